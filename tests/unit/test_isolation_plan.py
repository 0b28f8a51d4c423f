"""The worker's command line inside namespaces (codeuf.sandbox.isolation.launch), without starting it: the
kernel-level tests are in tests/integration/test_isolation.py."""

from __future__ import annotations

import os
import sys

from codeuf.sandbox.isolation import Isolation, launch, readable_paths

PYTHON = [sys.executable, "-m", "codeuf.sandbox"]


def test_without_namespaces_the_worker_starts_as_before() -> None:
    assert launch(PYTHON, Isolation(False, "guards")).argv == PYTHON


def test_the_worker_gets_every_namespace_a_read_only_system_and_a_private_tmp() -> None:
    import shlex

    argv = launch(PYTHON, Isolation(True, "", "/usr/bin/bwrap")).argv
    bwrap = shlex.split(argv[-1].split(" exec ", 1)[1]) if argv[0] == "unshare" else argv
    text = " ".join(bwrap)
    for flag in ("--unshare-all", "--unshare-user", "--cap-drop ALL", "--proc /proc", "--dev /dev", "--tmpfs /tmp",
                 "--new-session"):  # fmt: skip
        assert flag in text, flag
    assert "--die-with-parent" not in text  # it follows the starting thread, which ends before the pool
    assert "--ro-bind /usr /usr" in text and "--bind" not in bwrap  # nothing of the host is writable
    if os.path.exists("/etc/shadow"):
        assert "--ro-bind /dev/null /etc/shadow" in text
    assert bwrap[-len(PYTHON) - 1 :] == ["--", *PYTHON]
    if os.geteuid() == 0:  # root: bwrap runs as nobody, after a private mount namespace made Python reachable
        assert argv[:4] == ["unshare", "--mount", "--propagation", "private"]
        assert bwrap[:4] == ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_the_folders_python_reads_are_bound_once_each_and_never_the_system() -> None:
    folders = readable_paths()
    assert os.path.realpath(sys.base_prefix) in folders or any(
        os.path.realpath(sys.base_prefix).startswith(f + os.sep) for f in folders
    )
    assert not any(f == "/usr" or f.startswith("/usr/") for f in folders)
    assert not any(a != b and a.startswith(b + os.sep) for a in folders for b in folders)


def test_the_scratch_mount_never_hides_a_folder_it_binds() -> None:
    """CI clones into a folder that may be under /tmp: the scratch tmpfs must go elsewhere then."""
    from codeuf.sandbox.isolation import _SCRATCHES, scratch_folder

    first = next(c for c in _SCRATCHES if os.path.isdir(c) and not os.path.islink(c))
    assert scratch_folder(["/root/.pyenv/versions/3.11.7"]) == first
    chosen = scratch_folder([f"{first}/ci/main/.venv", f"{first}/ci/main/src"])
    assert chosen != first and not f"{first}/ci/main".startswith(chosen + os.sep)
