"""Running untrusted code: child processes with limits, a timeout, and a checker out of their reach.

The layout:

    codeuf process ──pipes──► sandbox workers (N, started with a clean environment: no secrets,
                              each in its own namespaces through bubblewrap: codeuf.sandbox.isolation)
                                  └─ fork per job ─► child: new session, rlimits, temp dir, guard

The package: jobs.py (a job, its result, the pipes' framing), child.py (the inner layer: what the forked child
does to itself and how it runs the code), worker.py (the trusted worker: fork, read, check, clean up), pool.py
(the workers, in the codeuf process), isolation.py (the outer layer: namespaces through bubblewrap; it says
what each layer stops).

Workers are long-lived `python -m codeuf.sandbox` processes started with an environment holding no
API keys, so nothing a child can read (its environment, its memory) contains a secret. For each job
a worker forks a child that:

- starts a new session (so the whole process group can be killed), changes to a fresh temporary
  directory (removed afterwards) and clears its environment;
- cuts itself off the network: a new network namespace where the kernel allows it (`unshare`),
  and in any case a socket module that refuses to connect;
- as root, becomes the `nobody` user where it can (below);
- sets rlimits: address space, CPU seconds, file size, open files, and processes;
- may open files for writing only inside its working directory, and may not open other
  processes' /proc entries (their environment, memory), a Python-level guard;
- disables process-level escape hatches in Python (`os.kill`, `os.fork`, `os.system`,
  `subprocess`, `shutil.rmtree`, ...), as EvalPlus's reliability guard does;
- runs the code, and streams each test output back to the worker as plain data.

The worker compares those outputs with the expected ones. The child never sees the expected
outputs and never runs the comparison, so it cannot pass a test by patching the checker. It can
only pass by computing the right answers. A child that hangs, floods its output, exits early,
crashes or kills its parent costs at most its own job: the worker kills its process group on
timeout (SIGTERM, then SIGKILL), and the codeuf process restarts a worker that died.

Run as root (as CI does) with a Python that `nobody` can read, the child drops to the `nobody` user
(not when Python lives under a private home such as /root, since `nobody` could not import anything
then): the kernel then stops it from
writing or deleting anywhere but its working directory and world-writable places, from reading
root's files and other processes' environments, from signalling other users' processes, and
RLIMIT_NPROC holds. Run as an ordinary user, the child keeps that user's rights: a Python guard
refuses writes outside the working directory, but code that goes through ctypes or a C extension
can still read and write what that user can. For real isolation of code you do not trust at all,
run the evaluation in a container or a VM, as the HumanEval authors advise.
"""

from codeuf.sandbox.jobs import Equals, GiB, Job, JobResult, Limits, Unpicklable
from codeuf.sandbox.pool import SandboxPool
from codeuf.sandbox.worker import _worker_loop, run_job

__all__ = ["Equals", "GiB", "Job", "JobResult", "Limits", "SandboxPool", "Unpicklable", "_worker_loop", "run_job"]
