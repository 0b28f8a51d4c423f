"""Whether a built program can start a thread or a process, read from its ELF file's dynamic symbols.

A program with a thread allowance runs under the spawn helper's threads-only filter (codeuf.sandbox.spawn),
and the filter costs each run about 70 µs here: the kernel compiles it for every process and frees it at
exit, a tenth of a one-line C program's whole run. A program that cannot start a thread needs neither the
allowance nor the filter: RLIMIT_NPROC with no allowance holds it to its one process whatever it calls, the
kernel directly included (a raw `clone`, x86's `int 0x80`). So this answer decides speed, never isolation:
were it wrong, such a program's thread would fail with EAGAIN, as every thread did before the filter.

`starts_nothing(path)` is True only for a dynamically linked ELF executable (64-bit, little-endian) that needs
no library but the C and C++ runtimes (libc, libm, libstdc++, libgcc_s) and imports none of their functions
that start a thread or a process (`pthread_create`, `std::thread`, `fork`, `system`, `posix_spawn`, a
`timer_create` that may call back in a thread, `dlopen`, ...). Anything else, a static binary (Go's) or a
file it cannot read included, is False: the allowance and the filter, as before."""

from __future__ import annotations

import struct

RUNTIMES = frozenset({"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0",
                      "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"})  # fmt: skip
"""Libraries whose every way to start a thread or a process is one of STARTERS (a name this module sees)."""

STARTERS = frozenset({
    "pthread_create", "thrd_create", "fork", "vfork", "_Fork", "clone", "clone3", "__clone", "daemon",
    "forkpty", "posix_spawn", "posix_spawnp", "system", "popen", "timer_create", "mq_notify", "aio_read",
    "aio_read64", "aio_write", "aio_write64", "aio_fsync", "aio_fsync64", "lio_listio", "lio_listio64",
    "getaddrinfo_a", "dlopen", "dlmopen",
})  # fmt: skip
"""Imports that start a thread or a process, or load code that might (dlopen). libstdc++ starts every thread
(std::thread, std::jthread, std::async) through `std::thread::_M_start_thread`, matched by name."""

MAX_BYTES = 256 * 1024 * 1024
SHT_DYNAMIC, SHT_DYNSYM, DT_NEEDED = 6, 11, 1


def starts_nothing(path: str) -> bool:
    """Whether the program at `path` can start neither a thread nor a process (see the module)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError:
        return False
    if len(data) > MAX_BYTES:
        return False
    try:
        return _starts_nothing(data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        return False  # not an ELF file this reads: the filter, as for anything unknown


def _starts_nothing(data: bytes) -> bool:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELFCLASS64, ELFDATA2LSB
        return False
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    # each: name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    dynamic = [s for s in sections if s[1] == SHT_DYNAMIC]
    symbols = [s for s in sections if s[1] == SHT_DYNSYM]
    if len(dynamic) != 1 or len(symbols) != 1:
        return False  # static (Go, -static): whatever starts threads is inside, unseen

    def table(section: tuple[int, ...]) -> bytes:
        linked = sections[section[6]]
        return data[linked[4] : linked[4] + linked[5]]

    def name(strings: bytes, offset: int) -> str:
        return strings[offset : strings.index(b"\0", offset)].decode("utf-8")

    needed = set()
    strings = table(dynamic[0])
    for offset in range(dynamic[0][4], dynamic[0][4] + dynamic[0][5], 16):
        tag, value = struct.unpack_from("<qQ", data, offset)
        if tag == 0:
            break
        if tag == DT_NEEDED:
            needed.add(name(strings, value))
    if "libc.so.6" not in needed or not needed <= RUNTIMES:
        return False  # static-pie, or a library this knows nothing of (libgomp, libtbb, ...)
    strings = table(symbols[0])
    for offset in range(symbols[0][4] + 24, symbols[0][4] + symbols[0][5], 24):  # the first is the null symbol
        name_offset, _, _, section = struct.unpack_from("<IBBH", data, offset)
        if section != 0:
            continue  # defined in the program itself
        imported = name(strings, name_offset)
        if imported in STARTERS or "_M_start_thread" in imported:
            return False
    return True
