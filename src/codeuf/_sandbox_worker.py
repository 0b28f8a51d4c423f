"""Entry point of a sandbox worker process (`python -m codeuf._sandbox_worker`).

A separate module so that the objects the worker sends back pickle as `codeuf.sandbox.*`,
not as `__main__.*`.
"""

from codeuf.sandbox import _worker_loop

if __name__ == "__main__":
    _worker_loop()
