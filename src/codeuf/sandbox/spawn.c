/* codeuf's sandbox spawn helper (see codeuf/sandbox/spawn.py).

   Starts a program as a sandbox child without an extra process: vfork, then, in the child, only system calls
   (a new session, the working directory, the three standard streams, every other descriptor closed, signal
   dispositions and mask reset, rlimits) and execve. What util-linux's `prlimit` did in a second exec, and
   what Python's own fork path does after copying the whole worker.

   With `threads_only`, the program may start threads and no process: a seccomp filter, installed last,
   refuses fork, vfork and a clone without CLONE_THREAD (EAGAIN, as when RLIMIT_NPROC is reached), answers
   clone3 with ENOSYS (its flags sit in memory a filter cannot read; glibc then uses clone), and kills a
   process that calls the kernel through another ABI (x86's int 0x80, x32), where those numbers mean other
   calls. RLIMIT_NPROC counts threads too, so the cap on threads stays.

   A worker may keep to one CPU (codeuf/sandbox/cpus.py): `codeuf_child_cpus` gives the CPUs its programs run
   on instead, set in the child before execve. The child starts on the worker's CPU, where a short program
   then runs; a longer one is spread by the kernel as it would be run directly.

   The worker calls it through ctypes with the GIL held, so no other Python thread runs while the child
   shares the worker's memory.

   `codeuf_read` then reads the program's output until it ends: the loop programs.py runs in Python where no
   helper is built, here in one call, without the interpreter's work on each wake-up. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define CODEUF_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CODEUF_ARCH AUDIT_ARCH_AARCH64
#endif

/* A filter makes no speculation mitigation of its own (the kernel's defaults for the process hold, as before
   it): side channels are outside what the sandbox claims to stop, and the mitigation slowed every run. */
#ifdef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define CODEUF_SPEC SECCOMP_FILTER_FLAG_SPEC_ALLOW
#else
#define CODEUF_SPEC 0
#endif

enum { ALLOW = 0xF0, REFUSE, NOSYS }; /* jump targets, resolved to the three returns at the end */

/* Installs the filter in the calling process (and what it execs): 0 when it is in place, -1 where it cannot
   be (another architecture, no seccomp). Also called by the worker's Python children before they run code. */
int codeuf_threads_only(void) {
#if defined(CODEUF_ARCH) && defined(SECCOMP_RET_KILL_PROCESS)
    struct sock_filter code[16];
    int n = 0;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CODEUF_ARCH, 1, 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, REFUSE, 0); /* x32 */
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fork, REFUSE, 0);
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_vfork, REFUSE, 0);
#endif
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, NOSYS, 0);
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, ALLOW);
    /* clone's flags: its first argument on both architectures, CLONE_THREAD in the low 32 bits */
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, ALLOW, REFUSE);
    int body = n;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    for (int i = 0; i < body; i++) {
        if (BPF_CLASS(code[i].code) != BPF_JMP) continue;
        if (code[i].jt >= ALLOW) code[i].jt = (unsigned char)(body + code[i].jt - ALLOW - i - 1);
        if (code[i].jf >= ALLOW) code[i].jf = (unsigned char)(body + code[i].jf - ALLOW - i - 1);
    }
    struct sock_fprog program = {(unsigned short)n, code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, CODEUF_SPEC, &program) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

/* Whether this machine can start a program threads-only (a filter installed in a child that then exits). */
int codeuf_threads_only_works(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(codeuf_threads_only() == 0 && fork() < 0 && errno == EAGAIN ? 0 : 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static cpu_set_t child_cpus;
static int child_cpus_set = 0;

/* The CPUs a child runs on from now on (`count` CPU numbers), instead of the worker's own. */
int codeuf_child_cpus(const int *cpus, int count) {
    CPU_ZERO(&child_cpus);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -1;
        CPU_SET(cpus[i], &child_cpus);
    }
    child_cpus_set = count > 0;
    return 0;
}

int codeuf_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int in_fd, int out_fd,
                 int err_fd, const int *kinds, const unsigned long long *values, int count, int threads) {
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
        if (child_cpus_set) sched_setaffinity(0, sizeof child_cpus, &child_cpus); /* where it fails, it stays */
        for (int i = 0; i < count; i++) {
            struct rlimit limit = {(rlim_t)values[i], (rlim_t)values[i]};
            if (setrlimit(kinds[i], &limit) != 0) _exit(126);
        }
        if (threads && codeuf_threads_only() != 0) _exit(125);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, 0);
        execve(path, argv, envp);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, 0);
    return pid;
}

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* poll() for at most `seconds` (none: at once) */
static int poll_for(struct pollfd *fds, int count, double seconds) {
    if (seconds < 0) seconds = 0;
    struct timespec wait = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    return ppoll(fds, (nfds_t)count, &wait, 0);
}

static void reap(int pid, int *exited, int *code) {
    int status = 0;
    if (waitpid(pid, &status, 0) == pid) {
        *exited = 1;
        *code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
}

/* What codeuf/sandbox/programs.py's `_read` does, in one call (see it for the rules): a program's output until
   it exits and its pipes close (or `grace` seconds after it exits), the deadline (CLOCK_MONOTONIC seconds, as
   Python's time.monotonic) or a flood (more than `cap` bytes on out_fd, read into `out`, cap + 1 bytes long).
   The last bytes of err_fd go to `err` (err_size long; at least the last half is kept). Returns 0 (ok),
   1 (timeout), 2 (flood) or -1 (no pidfd: errno says why); *exited and *code say whether the program was
   reaped, and its exit code (negative: the signal that killed it). */
int codeuf_read(int pid, int out_fd, int err_fd, double deadline, double grace, int alone, char *out, long cap,
                long *out_len, char *err, long err_size, long *err_len, int *exited, int *code) {
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return -1;
    struct pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {alone ? -1 : pidfd, POLLIN, 0}};
    long n = 0, e = 0;
    int status = 0;
    *exited = 0;
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        double remaining = deadline - seconds_now();
        if (remaining <= 0) {
            status = 1;
            break;
        }
        if (poll_for(fds, 3, remaining) < 0) {
            if (errno == EINTR) continue;
            status = 1;
            break;
        }
        if (fds[2].fd >= 0 && fds[2].revents) {
            reap(pid, exited, code);
            fds[2].fd = -1;
            double after = seconds_now() + grace;
            if (after < deadline) deadline = after;
        }
        if (fds[0].fd >= 0 && fds[0].revents) {
            ssize_t got = read(out_fd, out + n, (size_t)(cap + 1 - n));
            if (got > 0) n += got;
            else if (got == 0 || errno != EINTR) fds[0].fd = -1;
        }
        if (fds[1].fd >= 0 && fds[1].revents) {
            if (e == err_size) { /* keep the end of the error output only */
                memmove(err, err + err_size - err_size / 2, (size_t)(err_size / 2));
                e = err_size / 2;
            }
            ssize_t got = read(err_fd, err + e, (size_t)(err_size - e));
            if (got > 0) e += got;
            else if (got == 0 || errno != EINTR) fds[1].fd = -1;
        }
        if (n > cap) {
            status = 2;
            break;
        }
    }
    if (status == 1 && *exited) {
        status = 0; /* it exited in time; what it left holding the output is killed with its group */
    } else if (status == 0 && !*exited) { /* the output is closed: the child exits, or goes on without it */
        struct pollfd exit_fd = {pidfd, POLLIN, 0};
        if (poll_for(&exit_fd, 1, deadline - seconds_now()) > 0) reap(pid, exited, code);
        else status = 1;
    }
    close(pidfd);
    *out_len = n > cap ? cap : n;
    *err_len = e;
    return status;
}
