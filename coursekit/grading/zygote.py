"""Grading kernels forked from a warmed-up process, each inside a sandbox of its own.

A grading kernel used to start from nothing: Python, ipykernel, torch, matplotlib and the course's
lab package, ≈ 1.7 s of CPU before the first cell, and ≈ 0.3 s more to read MNIST, the same for every
submission. Here one **zygote** process per run (started by ``coursekit grade`` and ``coursekit
serve``) imports all of that and reads MNIST once, outside any sandbox, and never runs anything of a
submission. Each kernel is a fork
of it, made inside that submission's own sandbox:

1. the sandbox launcher (``coursekit.grading.sandbox``, the kernelspec's command) starts bubblewrap
   as before (the same namespaces, mounts, limits and cgroups), but with a placeholder command
   that only holds the sandbox open, and asks the zygote for a kernel in it (:func:`launch`);
2. the zygote forks. The fork joins the submission's cgroups and rlimits and then the sandbox's
   namespaces (user, mount, network, IPC, UTS, cgroup, PID: :func:`_join`), forks once more so
   that the kernel is a process *of* the sandbox's PID namespace, and waits for it;
3. the kernel drops every capability, sets ``no_new_privs``, takes the kernel's environment and
   the launcher's standard streams, closes every other file, and runs ipykernel exactly as
   ``python -m ipykernel_launcher -f CONNECTION ...`` would (:func:`_become_kernel`).

So every submission still has a sandbox of its own (its own namespaces, tmpfs, cgroup); what the
kernels share is only the zygote's memory image, copied on write, of modules it imported before
any submission existed. The zygote is never changed by a kernel, so every kernel starts from the
same state. When the kernel ends, the fork tells the launcher its exit status, and the launcher
exits with it (jupyter_client sees the kernel die as before); when the launcher is killed,
bubblewrap goes with it (``--die-with-parent``) and the sandbox's PID namespace, kernel included,
with bubblewrap.

Whatever goes wrong before the kernel runs (no zygote, a machine that refuses to join the
namespaces), the launcher starts the kernel the ordinary way instead: never a grading lost.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: What the zygote imports once (what every grading kernel imports before or while the notebook runs).
KERNEL_MODULES = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "IPython.core.interactiveshell",
    "torch", "torch.optim", "numpy", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
    "coursekit.lab", "coursekit.lab.parts", "coursekit.lab.checks",
    "coursekit.lab.session", "coursekit.lab.experiments", "coursekit.lab.training", "coursekit.lab.data",
    "coursekit.lab.plotting", "coursekit.lab.showcode", "coursekit.lab.serve",
)
#: The namespaces a kernel joins, in the order an unprivileged owner of the sandbox joins them
#: (its user namespace first: that gives it the right to join the others). root joins the user
#: namespace last: bubblewrap run by root creates the other namespaces in the machine's own.
NAMESPACES = ("user", "mnt", "net", "ipc", "uts", "cgroup", "pid")
#: Environment variables the zygote points at a folder of its own (the kernel's are inside its sandbox).
PRIVATE_DIRS = ("HOME", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR")
#: Seconds the launcher waits for the zygote to answer (its imports take ≈ 1.5 s after it starts).
ANSWER_TIMEOUT = 60

_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class ZygoteUnavailable(RuntimeError):
    """The kernel cannot be made by the zygote (the launcher then starts it the ordinary way)."""


# --- the coordinator's side: one zygote per run -----------------------------------------------

class Zygote:
    """A zygote process for a run (use as a context manager; ``socket`` goes into each sandbox's spec).

    ``env`` is the grading kernels' environment (``classgrade.kernel_environment``): the zygote
    imports with the same thread settings; the folders of :data:`PRIVATE_DIRS` are its own.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="coursekit-zygote-"))  # 0700: only this user connects
        self.socket = str(self.folder / "zygote.sock")
        # The kernels' folders are inside their sandboxes; the zygote's are a folder of its own. (Not this
        # user's: a kernel can read the environment its process image started with, /proc/self/environ.)
        (self.folder / "home").mkdir()
        own = {name: str(self.folder / "home") for name in PRIVATE_DIRS}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "coursekit.grading.zygote", self.socket],
            env={**env, **own}, cwd=self.folder, stdin=subprocess.DEVNULL, start_new_session=True)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        import shutil
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the zygote --------------------------------------------------------------------------------

def serve(socket_path: str) -> None:
    """The zygote's main: listen first (a launcher may connect while this imports), import, then
    fork a kernel for every request, one at a time. It never runs anything of a submission."""
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # goes with the coordinator
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    import importlib
    for name in KERNEL_MODULES:
        importlib.import_module(name)
    _preload_mnist()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a process with threads may not join a user namespace (and must not fork)
        sys.exit(f"coursekit zygote: {threads} threads after the imports; not serving")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    while True:
        connection, _ = listener.accept()
        try:
            message, fds = _receive(connection)
        except (OSError, ValueError):
            connection.close()
            continue
        if os.fork() == 0:
            listener.close()
            _spawn(connection, message, fds)  # never returns
        connection.close()
        for fd in fds:
            os.close(fd)


def _preload_mnist() -> None:
    """MNIST as every kernel's session loads it (coursekit.lab.data caches each split per process): the
    kernels then find it in memory, shared copy-on-write. Without it each kernel reads it itself."""
    from coursekit.config import ConfigError, DataError, load_config
    from coursekit.lab.data import load_mnist
    try:
        root = load_config().data_root
        for train in (True, False):
            load_mnist(train=train, root=root)
    except (ConfigError, DataError, OSError) as err:
        print(f"[coursekit zygote] MNIST not preloaded ({err}); each kernel reads it", file=sys.stderr, flush=True)


def _spawn(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the zygote's fork: join the sandbox, fork the kernel into it, report its end."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from coursekit.grading import sandbox
        spec = sandbox.Spec(**json.loads(Path(request["spec"]).read_text())) if request.get("spec") else None
        if spec is not None:
            sandbox.confine(spec)  # the submission's cgroups and rlimits; dies with the zygote
            _join(int(request["anchor"]))
        elif not request.get("worker"):
            raise ValueError("a kernel needs a sandbox")
        kernel = os.fork()
        if kernel == 0:
            connection.close()
            if request.get("worker"):
                _become_worker(spec, request, fds)  # never returns
            _become_kernel(spec, request, fds)  # never returns
        for fd in fds:
            os.close(fd)
        connection.sendall(json.dumps({"started": kernel}).encode() + b"\n")
        _, status = os.waitpid(kernel, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
    except BaseException as err:  # whatever it was, the launcher must hear it and start the kernel itself
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"failed": f"{type(err).__name__}: {err}"}).encode() + b"\n")
    finally:
        os._exit(code)


def _join(anchor: int) -> None:
    """Join the namespaces of the sandbox whose first process is ``anchor``."""
    libc = _libc()
    handles = {name: os.open(f"/proc/{anchor}/ns/{name}", os.O_RDONLY) for name in NAMESPACES}
    order = [*NAMESPACES[1:], "user"] if os.geteuid() == 0 else list(NAMESPACES)
    try:
        for name in order:
            if libc.setns(handles[name], 0) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"cannot join the sandbox's {name} namespace: {os.strerror(error)}")
    finally:
        for handle in handles.values():
            os.close(handle)


def _become_kernel(spec: Any, request: dict[str, Any], fds: list[int]) -> None:
    """In the sandbox: drop every privilege, take the kernel's streams and environment, run ipykernel."""
    try:
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()  # as bubblewrap's --new-session
        stdin, stdout, stderr = fds
        for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
        os.closerange(3, _max_fd())
        _drop_privileges(libc)
        os.chdir(spec.workdir or request["cwd"])
        os.environ.clear()
        os.environ.update(spec.env)
        _forget_zygote_paths()
        sys.path[0] = os.getcwd()  # as for `python -m ipykernel_launcher` started there
        sys.argv = [sys.argv[0], "-f", request["connection"], *request["arguments"]]
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


#: The file descriptor of a grading worker's connection to the grader (0, 1 and 2 are its standard streams).
WORKER_FD = 3


def _become_worker(spec: Any, request: dict[str, Any], fds: list[int]) -> None:
    """A grading worker (:mod:`coursekit.lab.serve`): its connection to the grader is the first of
    the three descriptors, the other two its stdout and stderr. The connection is not its stdin
    (``/dev/null``): a cell that reads or closes ``sys.stdin`` cannot touch it. In a sandbox it drops
    every privilege and takes the sandbox's environment, as a kernel does; without one
    (``[sandbox] enabled = false``) it keeps the zygote's."""
    code = 1
    try:
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        connection, stdout, stderr = fds  # received, so none of them is 0, 1 or 2
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.dup2(connection, WORKER_FD)  # after the two above: one of them may have been WORKER_FD
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.closerange(WORKER_FD + 1, _max_fd())
        if spec is not None:
            _drop_privileges(libc)
            os.chdir(spec.workdir or request["cwd"])
            os.environ.clear()
            os.environ.update(spec.env)
        _forget_zygote_paths()
        from coursekit.lab import serve
        serve.main(WORKER_FD)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _drop_privileges(libc: ctypes.CDLL) -> None:
    """No capability left in any set, none to be gained (as bubblewrap leaves its command)."""
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    for capability in range(64):
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the last one
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    if libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), (Data * 2)()) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    status = Path("/proc/self/status").read_text()
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("CapPrm", "CapEff", "CapBnd", "CapAmb") and int(value, 16) != 0:
            raise OSError(f"{key} is {value.strip()} after dropping every capability")


def _forget_zygote_paths() -> None:
    """What a fresh kernel would not share with the others: the folders the zygote's imports remembered
    (its own; the kernel finds its own again) and the seeds of Python's and numpy's global generators."""
    tempfile.tempdir = None
    import random
    random.seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    matplotlib = sys.modules.get("matplotlib")
    for name in ("get_configdir", "get_cachedir"):
        function = getattr(matplotlib, name, None)
        cells = dict(zip(getattr(getattr(function, "__code__", None), "co_freevars", ()),
                         getattr(function, "__closure__", None) or ()))
        if "called" in cells:  # matplotlib's _logged_cached: computed again on the next call
            cells["called"].cell_contents = False


def _max_fd() -> int:
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 65536


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


# --- the wire ------------------------------------------------------------------------------------

def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request: a JSON line and the launcher's three standard streams."""
    data, ancillary, _, _ = connection.recvmsg(1 << 16, socket.CMSG_SPACE(3 * array.array("i").itemsize))
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while not data.endswith(b"\n"):
        more = connection.recv(1 << 16)
        if not more:
            raise ValueError("request cut short")
        data += more
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request brings the three standard streams")
    return json.loads(data), list(fds)


# --- the launcher's side -------------------------------------------------------------------------

def launch(spec: Any, connection_file: str, arguments: list[str]) -> int:
    """Run the kernel of this sandbox as a fork of the zygote at ``spec.zygote``; return its exit
    status when it ends. Raises ZygoteUnavailable, with nothing left running, when the zygote cannot
    make it (the caller then starts the kernel the ordinary way)."""
    from coursekit.grading import sandbox
    workdir = spec.workdir or os.getcwd()
    anchor, first = start_anchor(sandbox.sandbox_prefix(spec, workdir), subprocess.Popen, stdin=subprocess.DEVNULL)
    client = None
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(ANSWER_TIMEOUT)
        client.connect(spec.zygote)
        request = {"spec": str(Path(spec.private) / "spec.json"), "anchor": first,
                   "connection": connection_file, "arguments": arguments, "cwd": workdir}
        client.sendmsg([json.dumps(request).encode() + b"\n"],
                       [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        lines = client.makefile("rb")
        answer = json.loads(lines.readline() or b"{}")
        if "started" not in answer:
            raise ZygoteUnavailable(answer.get("failed", "the zygote did not answer"))
        # For the phases of the submission (coursekit.grading.phases): the kernel is not this process's child.
        (Path(spec.private) / sandbox.KERNEL_PID_FILE).write_text(str(answer["started"]))
    except (OSError, ValueError, KeyError, ZygoteUnavailable) as err:
        if client is not None:
            client.close()
        anchor.kill()
        anchor.wait()
        raise ZygoteUnavailable(str(err)) from None
    client.settimeout(None)  # from here on the kernel runs as long as it runs
    try:
        answer = json.loads(lines.readline() or b"{}")
    except ValueError:
        answer = {}
    anchor.kill()  # the sandbox goes with its kernel
    anchor.wait()
    return int(answer.get("exit", 1))


def start_anchor(prefix: list[str], popen, **options) -> tuple[subprocess.Popen, int]:
    """Start a sandbox that holds nothing yet (bubblewrap's command line ``prefix``, run with
    ``popen``) and return it with the pid of its first process, once the sandbox is built.

    bubblewrap reports that pid (``--info-fd``) before it has mounted the sandbox's file system: a
    process that joined the namespaces then could find no ``/dev/null``, or the host's files. So
    the sandbox's command, which bubblewrap runs only when everything is in place, first says so on
    a pipe of its own, then sleeps until the sandbox is stopped. Raises ZygoteUnavailable, with
    nothing left running, when bubblewrap ends before that."""
    info_read, info_write = os.pipe()
    ready_read, ready_write = os.pipe()
    command = [prefix[0], "--info-fd", str(info_write), *prefix[1:],
               "/bin/sh", "-c", f"echo ready >/proc/self/fd/{ready_write}; exec sleep infinity"]  # dash: >&N only for N < 10
    try:
        anchor = popen(command, pass_fds=[info_write, ready_write], **options)
    finally:
        os.close(info_write)
        os.close(ready_write)
    try:
        first = int(_read_info(info_read)["child-pid"])
        _read_ready(ready_read)
    except (OSError, ValueError, KeyError, ZygoteUnavailable) as err:
        anchor.kill()
        anchor.wait()
        raise ZygoteUnavailable(str(err)) from None
    finally:
        os.close(info_read)
        os.close(ready_read)
    return anchor, first


def _read_ready(fd: int) -> None:
    data = b""
    while b"ready" not in data:
        chunk = os.read(fd, 64)
        if not chunk:
            raise ZygoteUnavailable("bubblewrap ended before its sandbox was ready")
        data += chunk


def _read_info(fd: int) -> dict[str, Any]:
    data = b""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while b"}" not in data:
        if time.monotonic() > deadline:
            raise ZygoteUnavailable("bubblewrap did not report its sandbox")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise ZygoteUnavailable("bubblewrap ended before reporting its sandbox")
        data += chunk
    return json.loads(data[: data.index(b"}") + 1])


if __name__ == "__main__":
    serve(sys.argv[1])
