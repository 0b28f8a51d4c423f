"""What a sandbox job is (code, inputs, limits, a checker), what comes back, and the framing both sides of a
worker's pipes speak (length-prefixed pickles)."""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GiB = 1024**3
_SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The folder codeuf is imported from (src/ of a checkout, or site-packages)."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * GiB
    cpu_seconds: int | None = None
    """CPU seconds for the child [default: the job's wall-clock budget, rounded up, plus one]."""
    file_size_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    processes: int = 0
    """New processes the child may create (RLIMIT_NPROC; as root the child runs as `nobody`, where it holds).
    At 0, where the spawn helper's seccomp filter can be installed, a child may start threads but no process
    (Python children 16, programs their language's allowance); above 0, processes as many, and no filter."""
    address_space_bytes: int | None = None
    """RLIMIT_AS [default: memory_bytes]. More for a runtime that reserves address space it never touches
    (Node's WebAssembly memories reserve 10 GiB of guard pages each): what it writes is still capped by
    RLIMIT_DATA at memory_bytes."""


@dataclass
class Job:
    """Run `code`, call `entry_point` on each input (with a per-input time limit), stream outputs."""

    code: str
    entry_point: str
    inputs: list[Any]
    time_limits: list[float]
    wall_timeout: float
    check: Callable[[int, Any], bool] | None = field(default=None, repr=False)
    """Called in the worker on each (index, output); a False stops the child at once (fast check)."""
    collect: bool = False
    """Keep every output and its run time (for trusted reference solutions: the expected outputs)."""
    copy_inputs: bool = False
    """Deep-copy each input before the call (EvalPlus does for reference solutions)."""
    keep_going: bool = False
    """Run every input even after one fails, so that `details` counts them all (codeuf execute); an input
    over its time limit still ends the job, as "timeout"."""
    stdio: bool = False
    """Run `code` as a program once per input instead of calling `entry_point`: each input is a string given as
    standard input, and each output the text the program printed (stdin/stdout tasks)."""


@dataclass
class JobResult:
    status: str
    """"pass" (every output checked True), "fail" (an output wrong or an error), "timeout"
    (the child ran out of wall-clock time, or died without finishing)."""
    details: list[bool]
    reason: str = ""
    outputs: list[Any] | None = None
    seconds: list[float] | None = None


@dataclass(frozen=True, eq=False)
class Unpicklable:
    """Stands for an output that could not leave the child (a regex match, a generator, ...):
    equal to nothing, but not None, which is all some oracles ask."""

    type_name: str


@dataclass(frozen=True)
class Equals:
    """A checker (runs in the worker): output i must equal expected[i]."""

    expected: tuple[Any, ...]

    def __call__(self, index: int, out: Any) -> bool:
        return type(out) is type(self.expected[index]) and out == self.expected[index]


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _recv(stream: Any) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


# ---------------------------------------------------------------- the child
