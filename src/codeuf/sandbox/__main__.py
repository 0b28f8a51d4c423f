"""Entry point of a sandbox worker process (`python -m codeuf.sandbox`).

The worker's code lives in codeuf.sandbox.worker, so that the objects it sends back pickle as
`codeuf.sandbox.*`, not as `__main__.*`.
"""

from codeuf.sandbox import _worker_loop

if __name__ == "__main__":
    _worker_loop()
