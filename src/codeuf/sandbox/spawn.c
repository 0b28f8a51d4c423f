/* codeuf's sandbox spawn helper (see codeuf/sandbox/spawn.py).

   Starts a program as a sandbox child without an extra process: vfork, then, in the child, only system calls
   (a new session, the working directory, the three standard streams, every other descriptor closed, signal
   dispositions and mask reset, rlimits) and execve. What util-linux's `prlimit` did in a second exec, and
   what Python's own fork path does after copying the whole worker.

   The worker calls it through ctypes with the GIL held, so no other Python thread runs while the child
   shares the worker's memory. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int codeuf_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int in_fd, int out_fd,
                 int err_fd, const int *kinds, const unsigned long long *values, int count) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        for (int s = 1; s < NSIG; s++) {
            if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL); /* Python ignores SIGPIPE and SIGXFSZ */
        }
        if (setsid() < 0 || chdir(cwd) != 0) _exit(127);
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
        long closed = -1;
#ifdef SYS_close_range
        closed = syscall(SYS_close_range, 3U, ~0U, 0); /* Linux 5.9 */
#endif
        if (closed != 0) {
            for (int fd = 3; fd < 4096; fd++) close(fd);
        }
        for (int i = 0; i < count; i++) {
            struct rlimit limit = {(rlim_t)values[i], (rlim_t)values[i]};
            if (setrlimit(kinds[i], &limit) != 0) _exit(126);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, 0);
        execve(path, argv, envp);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, 0);
    return pid;
}
