"""coursekit.grading.zygote: kernels forked from one warmed-up process, each in a sandbox of its own.

Real kernels, started the way GuardedExecute starts them (the sandbox's kernelspec, IPC transport),
with and without a zygote; what a kernel can see and do is asked from inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from coursekit.grading import sandbox
from coursekit.grading.zygote import Zygote
from tests.grading.probes import ATTEMPT

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (apt-get install bubblewrap)")
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds a state may take to be reached before the test fails


def kernel_env() -> dict[str, str]:
    home = sandbox.SANDBOX_HOME
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
            "MPLCONFIGDIR": f"{home}/matplotlib", "IPYTHONDIR": f"{home}/ipython", "JUPYTER_RUNTIME_DIR": f"{home}/jupyter",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def zygote():
    with Zygote(kernel_env()) as running:
        yield running


class Kernel:
    """A sandboxed kernel started through the sandbox's kernelspec; ``run(code)`` returns its printed output."""

    def __init__(self, tmp_path: Path, zygote_socket: str, name: str, setenv) -> None:
        from jupyter_client.manager import KernelManager
        workdir = tmp_path / name / "autograded" / "ann" / "lab2"
        self.private, extra = sandbox.prepare(
            f"zygote-test-{name}-{os.getpid()}-{time.monotonic_ns()}", memory_mb=2048, max_processes=128,
            max_file_mb=4, tmp_mb=16, read_only=[str(ROOT / "coursekit")], env=kernel_env(), workdir=str(workdir),
            zygote=zygote_socket)
        for key, value in extra.items():  # JUPYTER_PATH: where the sandbox's kernelspec is (undone by monkeypatch)
            setenv(key, value)
        spec = json.loads((self.private / "spec.json").read_text())
        self.km = KernelManager(kernel_name=sandbox.KERNEL_NAME, transport="ipc", ip=spec["ipc_prefix"])
        self.km.start_kernel(cwd=str(self.private))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=WAIT)

    @property
    def launcher(self):
        return self.km.provisioner.process

    def forked_pid(self) -> int | None:
        path = self.private / sandbox.KERNEL_PID_FILE
        return int(path.read_text()) if path.is_file() else None

    def run(self, code: str) -> str:
        reply = self.kc.execute_interactive(code, timeout=WAIT, output_hook=self._collect)
        assert reply["content"]["status"] == "ok", reply["content"]
        text, self._text = self._text, ""
        return text

    _text = ""

    def _collect(self, message) -> None:
        if message["msg_type"] == "stream":
            self._text += message["content"]["text"]
        elif message["msg_type"] == "error":
            self._text += "\n".join(message["content"]["traceback"])

    def close(self) -> None:
        self.kc.stop_channels()
        if self.km.is_alive():
            self.km.shutdown_kernel(now=True)
        sandbox.cleanup(self.private)


@pytest.fixture
def kernels(tmp_path, monkeypatch):
    started: list[Kernel] = []

    def start(zygote_socket: str, name: str = "k") -> Kernel:
        started.append(Kernel(tmp_path, zygote_socket, name, monkeypatch.setenv))
        return started[-1]

    yield start
    for kernel in started:
        kernel.close()


LOOK_AROUND = ATTEMPT + r'''
import json, os, socket, sys
seen = result
seen.update({"preloaded": "torch" in sys.modules, "pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd(),
             "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "env_home": os.environ.get("HOME")})
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
seen.update({key: status[key].strip() for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs")})
attempt("secret", lambda: open(SECRET).read())
attempt("zygote", lambda: socket.socket(socket.AF_UNIX).connect(ZYGOTE))
attempt("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
attempt("venv-write", lambda: open(os.path.join(sys.prefix, "evil.txt"), "w").write("x"))
attempt("home", lambda: open(os.path.join(os.environ["HOME"], "mine.txt"), "w").write("x"))
attempt("big-file", lambda: open(os.path.join(os.environ["HOME"], "big"), "wb").write(b"0" * 6 * 2**20))
print(json.dumps(seen))
'''


def look_around(kernel: Kernel, secret: Path, zygote_socket: str) -> dict:
    code = f"SECRET = {str(secret)!r}; ZYGOTE = {zygote_socket!r}\n" + LOOK_AROUND
    return json.loads(kernel.run(code).strip().splitlines()[-1])


def test_a_kernel_forked_from_the_zygote_is_as_confined_as_a_fresh_one(tmp_path, zygote, kernels):
    secret = tmp_path / "source" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("the answers")
    forked, fresh = kernels(zygote.socket, "forked"), kernels(str(tmp_path / "no-zygote.sock"), "fresh")
    assert forked.forked_pid() is not None and fresh.forked_pid() is None
    inside = look_around(forked, secret, zygote.socket)
    assert inside["preloaded"], "torch came with the zygote"
    assert not look_around(fresh, secret, zygote.socket)["preloaded"]
    assert inside["secret"] == "FileNotFoundError" and inside["zygote"] in ("FileNotFoundError", "ConnectionRefusedError")
    assert inside["network"] != "open" and inside["venv-write"] != "open"
    assert inside["home"] == "open" and inside["big-file"] != "open", "the sandbox's file-size limit holds"
    assert inside["uid"] == sandbox.SANDBOX_UID and inside["env_home"] == sandbox.SANDBOX_HOME
    assert inside["cwd"].endswith("autograded/ann/lab2")
    assert all(int(inside[key], 16) == 0 for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"))
    assert inside["NoNewPrivs"] == "1"
    assert inside["pids"] == sorted(inside["pids"]) and max(inside["pids"]) < 20, \
        "a PID namespace of its own: only the sandbox's few processes"


def test_two_kernels_of_one_zygote_share_no_files_processes_or_network(tmp_path, zygote, kernels):
    first, second = kernels(zygote.socket, "first"), kernels(zygote.socket, "second")
    first.run("import os, socket\nopen(os.path.join(os.environ['HOME'], 'note.txt'), 'w').write('from the first')\n"
              "open('here.txt', 'w').write('x')\nserver = socket.socket(); server.bind(('127.0.0.1', 45678)); server.listen()")
    seen = second.run(
        "import os, socket\nprint(os.path.exists(os.path.join(os.environ['HOME'], 'note.txt')), os.path.exists('here.txt'))\n"
        "try:\n    socket.create_connection(('127.0.0.1', 45678), timeout=2); print('connected')\n"
        "except OSError as err:\n    print(type(err).__name__)\n"
        f"print({first.forked_pid()} in [int(p) for p in os.listdir('/proc') if p.isdigit()])")
    assert seen.split() == ["False", "False", "ConnectionRefusedError", "False"]


def test_killing_the_launcher_ends_the_forked_kernel(tmp_path, zygote, kernels):
    kernel = kernels(zygote.socket)
    pid = kernel.forked_pid()
    assert Path(f"/proc/{pid}").exists()
    kernel.launcher.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the sandbox, kernel included, goes with its launcher"


def test_a_forked_kernel_that_exits_ends_its_launcher_with_its_status(tmp_path, zygote, kernels):
    kernel = kernels(zygote.socket)
    kernel.kc.execute("import os; os._exit(3)")
    assert kernel.launcher.wait(timeout=WAIT) == 3
    assert not kernel.km.is_alive()


def test_without_its_zygote_the_launcher_starts_the_kernel_itself(tmp_path, kernels):
    kernel = kernels(str(tmp_path / "gone.sock"))
    assert kernel.forked_pid() is None
    assert kernel.run("print(6 * 7)").strip() == "42"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _anchor_spec(tmp_path: Path) -> sandbox.Spec:
    private, _ = sandbox.prepare(f"anchor-test-{os.getpid()}-{time.monotonic_ns()}", memory_mb=512, max_processes=16,
                                 max_file_mb=1, tmp_mb=4, read_only=[], env=kernel_env(), workdir=str(tmp_path))
    return sandbox.Spec(**json.loads((private / "spec.json").read_text()))


def _children_names(pid: int) -> list[str]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{child}/comm").read_text().strip() for child in children]


def test_an_anchor_is_returned_only_once_its_sandbox_is_built(tmp_path):
    """bubblewrap names the sandbox's first process before it has mounted anything: a process that
    joined then found no /dev/null (and could have found the host's files)."""
    import subprocess

    from coursekit.grading.sandbox import start_anchor
    spec = _anchor_spec(tmp_path)
    anchor, first = start_anchor(sandbox.sandbox_prefix(spec, str(tmp_path)), subprocess.Popen, stdin=subprocess.DEVNULL)
    try:
        root = Path(f"/proc/{first}/root")
        assert (root / "dev" / "null").exists()
        assert not (root / ROOT.relative_to("/") / "course.toml").exists()  # the course is not in the sandbox
        # its command said "ready" from the sandbox's shell, which then becomes `sleep` (exec) soon after
        deadline = time.monotonic() + 60
        while (held := _children_names(first)) != ["sleep"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held == ["sleep"], held
    finally:
        anchor.kill()
        anchor.wait()
        sandbox.cleanup(Path(spec.private))


def test_an_anchor_that_cannot_start_leaves_nothing_running(tmp_path):
    import subprocess

    from coursekit.grading.sandbox import ZygoteUnavailable, start_anchor
    spec = _anchor_spec(tmp_path)
    started = []

    def popen(*args, **kwargs):
        started.append(subprocess.Popen(*args, **kwargs))
        return started[-1]

    prefix = sandbox.sandbox_prefix(spec, str(tmp_path))
    with pytest.raises(ZygoteUnavailable):
        start_anchor([*prefix[:-1], "--ro-bind", str(tmp_path / "missing"), "/missing", "--"], popen,
                     stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert started and started[0].poll() is not None
    sandbox.cleanup(Path(spec.private))
