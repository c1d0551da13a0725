"""coursekit.grading.sandbox: the bwrap command, and what a process inside it can and cannot do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.grading import sandbox
from tests.grading.probes import ATTEMPT

ROOT = Path(__file__).resolve().parents[2]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed (apt-get install bubblewrap)")


def make_spec(tmp_path: Path, **limits) -> sandbox.Spec:
    private = tmp_path / "private"
    private.mkdir()
    values = {"memory_mb": 2048, "max_processes": 64, "max_file_mb": 1, "tmp_mb": 8, **limits}
    spec = sandbox.Spec(job=f"test-{tmp_path.name}", private=str(private), kernel_name=sandbox.KERNEL_NAME,
                        ipc_prefix=str(private / "kernel"), read_only=[str(ROOT / "coursekit")],
                        env={"PATH": "/usr/bin:/bin", "HOME": sandbox.SANDBOX_HOME, "TMPDIR": sandbox.SANDBOX_HOME},
                        **values)
    (private / "spec.json").write_text(json.dumps(spec.__dict__))
    return spec


def test_missing_bwrap_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap.*enabled = false"):
        sandbox.bwrap_path()


@needs_bwrap
def test_the_command_isolates_and_binds_only_what_the_kernel_needs(tmp_path):
    spec = make_spec(tmp_path)
    cwd = str(tmp_path / "course" / "autograded" / "ann" / "lab2")
    command = sandbox.sandbox_prefix(spec, cwd)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in command
    binds = {command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind", "--ro-bind-try")}
    assert str(tmp_path / "course") not in binds and not any(b.startswith(str(tmp_path / "course")) for b in binds)
    assert spec.private in binds and str(ROOT / "coursekit") in binds
    assert command[command.index("--chdir") + 1] == cwd and command[-1] == "--"


def run_inside(spec: sandbox.Spec, cwd: Path, code: str) -> subprocess.CompletedProcess:
    """Run Python code in the sandbox with the job's limits, as the kernel would be."""
    def limits():
        sandbox.confine(spec)
    command = [*sandbox.sandbox_prefix(spec, str(cwd)), sys.executable, "-c", code]
    try:
        return subprocess.run(command, capture_output=True, text=True, preexec_fn=limits, timeout=120)
    finally:
        sandbox.cleanup(Path(spec.private))  # and the job's cgroups


PROBE = ATTEMPT + r'''
import json, os, socket
attempt("secret", lambda: open(SECRET).read())
attempt("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
attempt("home", lambda: open(os.path.join(os.environ["TMPDIR"], "x"), "w").write("ok"))
attempt("tmp", lambda: open("/tmp/x", "w").write("ok"))
attempt("cwd", lambda: open("here.txt", "w").write("ok"))
attempt("venv-write", lambda: open(os.path.join(PREFIX, "evil.txt"), "w").write("x"))
attempt("write-outside", lambda: open(GRADEBOOK, "a").write("x"))
attempt("big-file", lambda: open(os.path.join(os.environ["TMPDIR"], "big"), "wb").write(b"0" * 3 * 2**20))
result["uid"] = os.getuid()
print(json.dumps(result))
'''


@needs_bwrap
def test_a_process_inside_sees_nothing_of_the_course_and_has_no_network(tmp_path):
    spec = make_spec(tmp_path)
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    secret = course / "source" / "answers.txt"
    secret.write_text("the answers")
    cwd = course / "autograded" / "ann" / "lab2"
    cwd.mkdir(parents=True)
    gradebook = course / "gradebook.db"
    code = f"SECRET = {str(secret)!r}; PREFIX = {sys.prefix!r}; GRADEBOOK = {str(gradebook)!r}\n" + PROBE
    result = run_inside(spec, cwd, code)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["secret"] == "FileNotFoundError"
    assert seen["network"] == "OSError" or seen["network"].endswith("Error") and seen["network"] != "open"
    assert seen["home"] == "open" and seen["cwd"] == "open"
    assert seen["tmp"] == "OSError", "only HOME (= TMPDIR) is writable in /tmp"
    assert seen["venv-write"] in ("OSError", "PermissionError")
    assert seen["write-outside"] == "OSError", "the sandbox's own root is read-only"
    assert not gradebook.exists()
    assert seen["big-file"] == "OSError", "max_file_mb = 1 stops a 3 MB file"
    assert seen["uid"] == sandbox.SANDBOX_UID
    assert not (cwd / "here.txt").exists(), "the working folder inside is private"


@needs_bwrap
def test_prepare_writes_a_kernelspec_that_launches_this_module(tmp_path):
    private, env = sandbox.prepare("unit", memory_mb=1024, max_processes=64, max_file_mb=8, tmp_mb=8,
                                   read_only=[], env={"HOME": "/tmp"})
    try:
        kernel = json.loads((private / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())
        assert kernel["argv"][1:3] == ["-m", "coursekit.grading.sandbox"] and "{connection_file}" in kernel["argv"]
        assert kernel["interrupt_mode"] == "message"
        assert env["COURSEKIT_SANDBOX"] == str(private / "spec.json")
        assert env["JUPYTER_PATH"].split(":")[0] == str(private / "jupyter")
    finally:
        sandbox.cleanup(private)
    assert not private.exists()
