"""Grading kernels forked from a warmed-up process, each inside a sandbox of its own.

A grading kernel used to start from nothing: Python, ipykernel, torch, matplotlib and the course's
lab package, ≈ 1.7 s of CPU before the first cell, and ≈ 0.3 s more to read MNIST, the same for every
submission. Here one **zygote** process per run (started by ``coursekit grade`` and ``coursekit
serve``) imports all of that and reads MNIST once, outside any sandbox, and never runs anything of a
submission. Each kernel is a fork
of it, made inside that submission's own sandbox:

1. the sandbox launcher (``coursekit.grading.sandbox``, the kernelspec's command) starts bubblewrap
   as before (the same namespaces, mounts, limits and cgroups), but with a placeholder command
   that only holds the sandbox open, and asks the zygote for a kernel in it
   (:func:`coursekit.grading.sandbox.launch`);
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
from pathlib import Path
from typing import Any

#: What the zygote imports once (what every grading kernel imports before or while the notebook runs).
KERNEL_MODULES = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "IPython.core.interactiveshell",
    "torch", "torch.optim", "numpy", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
    "coursekit.partkit.checks", "coursekit.partkit.serve", "coursekit.partkit.local",
)  # and each assignment's own (Assignment.preload: course_modules)
#: The namespaces a kernel joins, in the order an unprivileged owner of the sandbox joins them
#: (its user namespace first: that gives it the right to join the others). root joins the user
#: namespace last: bubblewrap run by root creates the other namespaces in the machine's own.
NAMESPACES = ("user", "mnt", "net", "ipc", "uts", "cgroup", "pid")
#: Environment variables the zygote points at a folder of its own (the kernel's are inside its sandbox).
PRIVATE_DIRS = ("HOME", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR")

_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


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
    _preload_course()
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


def course_modules() -> tuple[list[str], list[str], list[str]]:
    """(parts modules, modules, warm-ups) of the course's assignments: the modules course.toml names
    (``[assignments.*] parts``), what they declare every grading kernel and worker imports
    (``Assignment.preload``), and what to call once before forking (``Assignment.warm``: such as the
    course's data read into memory, then shared copy-on-write)."""
    from coursekit.config import ConfigError, load_config
    from coursekit.partkit.part import load_assignment
    parts, modules, warm = [], [], []
    try:
        config = load_config()
        for name in config.assignments:
            reference = getattr(config.assignment(name), "parts", "")
            if reference:
                assignment = load_assignment(reference)
                parts.append(reference.partition(":")[0])
                modules += [parts[-1], *assignment.preload]
                warm += [assignment.warm] if assignment.warm else []
    except (ConfigError, ImportError, AttributeError, TypeError, ValueError) as err:
        print(f"[coursekit zygote] the course's modules are not preloaded ({err}); each kernel imports them",
              file=sys.stderr, flush=True)
    return list(dict.fromkeys(parts)), list(dict.fromkeys(modules)), list(dict.fromkeys(warm))


def _preload_course() -> None:
    import importlib

    from coursekit.partkit.part import resolve
    _, modules, warm = course_modules()
    for name in modules:
        importlib.import_module(name)
    for reference in warm:
        try:
            resolve(reference)()
        except Exception as err:  # noqa: BLE001 -- a warm-up is an optimisation: without it each kernel reads itself
            print(f"[coursekit zygote] {reference} failed ({type(err).__name__}: {err})", file=sys.stderr, flush=True)


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
    """A grading worker (:mod:`coursekit.partkit.serve`): its connection to the grader is the first of
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
        from coursekit.partkit import serve
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


if __name__ == "__main__":
    serve(sys.argv[1])
