"""Run a submission's kernel inside a bubblewrap sandbox while it is graded.

``coursekit grade`` prepares one sandbox per submission (:func:`prepare`): a private folder with
a kernelspec whose command is this module's launcher, and a JSON spec of the limits. nbgrader
then starts the kernel through that kernelspec (see ``coursekit.grading.execute.GuardedExecute``) and
reaches it over Jupyter's IPC transport, because a kernel with no network cannot be reached over
TCP. The launcher (:func:`main`) runs outside the sandbox, as root or as the instructor:

* joins a memory and a pids cgroup for this submission when the machine allows it (cgroup v1
  or v2), else caps the address space (RLIMIT_AS; no process limit without a pids cgroup);
* sets the file-size limit and makes the kernel die with nbgrader;
* execs ``bwrap`` (or, when the run has a zygote, has ``coursekit.grading.zygote`` fork the
  kernel into the same bwrap sandbox): a user namespace where the kernel is ``nobody`` without capabilities, no network, no other processes visible, read-only system folders, Python and
  the course's package, read-only MNIST and course.toml, a size-limited private /tmp and working
  folder, and nothing else of the machine: no source/, gradebook, release/, other students'
  folders or home folders.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coursekit.environment import ENV_SANDBOX

KERNEL_NAME = "coursekit-sandbox"
SANDBOX_UID = 65534  # nobody
#: The kernel's HOME and TMPDIR inside the sandbox (the only writable folder besides its working folder).
SANDBOX_HOME = "/tmp/home"
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: In a job's private folder: the pid of its kernel when the zygote forked it (coursekit.grading.zygote),
#: for the phases of the submission (the kernel is then not a child of the launcher).
KERNEL_PID_FILE = "kernel.pid"
#: Seconds the launcher waits for the run's zygote to answer (a zygote just started is still importing).
ANSWER_TIMEOUT = 60
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/alternatives", "/etc/mime.types")


class SandboxError(RuntimeError):
    """The sandbox cannot be used here; the message says how to fix it."""


class ZygoteUnavailable(RuntimeError):
    """The kernel cannot be made by the run's zygote (the launcher then starts it the ordinary way)."""


@dataclass
class Spec:
    """What the launcher needs to confine one kernel (written as JSON by :func:`prepare`)."""

    job: str
    private: str            # the job's own folder (kernelspec, IPC sockets, connection file)
    kernel_name: str
    ipc_prefix: str
    memory_mb: int
    max_processes: int
    max_file_mb: int
    tmp_mb: int
    read_only: list[str]    # extra paths the kernel may read (data root, course.toml, package)
    env: dict[str, str]     # the kernel's whole environment
    masked: list[str] = field(default_factory=list)  # files inside those paths the kernel sees as empty
    # The kernel's working folder (an empty tmpfs at that path); empty: the launcher's own.
    workdir: str = ""
    # The run's zygote (coursekit.grading.zygote): the kernel is forked from it into this sandbox.
    zygote: str = ""


def bwrap_path() -> str:
    """The bubblewrap executable, or SandboxError saying how to install it."""
    found = shutil.which("bwrap")
    if not found:
        raise SandboxError("bubblewrap (`bwrap`) is not installed, and course.toml asks for the sandbox "
                           "([sandbox] enabled = true). Install it (Debian/Ubuntu: `sudo apt-get install "
                           "bubblewrap`), or set [sandbox] enabled = false to grade without it on a machine "
                           "you trust.")
    return found


def python_paths() -> list[str]:
    """Folders the kernel's Python needs: the interpreter's installation and the venv."""
    paths = {sys.base_prefix, sys.prefix, str(Path(os.path.realpath(sys.executable)).parent.parent)}
    return sorted(p for p in paths if p and Path(p).exists())


def prepare(job: str, *, memory_mb: int, max_processes: int, max_file_mb: int, tmp_mb: int,
            read_only: list[str], env: dict[str, str], masked: list[str] | None = None,
            workdir: str = "", zygote: str = "") -> tuple[Path, dict[str, str]]:
    """Make the private folder, kernelspec and spec of one grading job.

    ``workdir`` is where the kernel works (nbgrader's autograded/<student>/<assignment>); inside the
    sandbox it is an empty tmpfs, so the kernel can be started before nbgrader has made that folder.
    ``zygote`` is the socket of the run's zygote, if there is one (the kernel is then forked from it).

    Returns the folder (delete it with :func:`cleanup`) and the environment variables nbgrader
    needs to use the sandbox.
    """
    bwrap_path()
    private = Path(tempfile.mkdtemp(prefix=f"coursekit-{job}-"))
    (private / "ipc").mkdir()
    kernel_dir = private / "jupyter" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    spec = Spec(job=job, private=str(private), kernel_name=KERNEL_NAME, ipc_prefix=str(private / "ipc" / "kernel"),
                memory_mb=memory_mb, max_processes=max_processes, max_file_mb=max_file_mb, tmp_mb=tmp_mb,
                read_only=read_only, env=env, masked=list(masked or []), workdir=workdir, zygote=zygote)
    spec_path = private / "spec.json"
    spec_path.write_text(json.dumps(asdict(spec), indent=1))
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "coursekit.grading.sandbox", "--spec", str(spec_path), "-f", "{connection_file}"],
        "display_name": "Python 3 (coursekit grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
    }))
    jupyter_path = os.pathsep.join(filter(None, [str(private / "jupyter"), os.environ.get("JUPYTER_PATH")]))
    return private, {ENV_SANDBOX: str(spec_path), "JUPYTER_PATH": jupyter_path}


def cgroup_dirs(job: str) -> dict[str, Path]:
    """The memory and pids cgroups of a job (v1 layout, else v2), whether or not they exist."""
    if (CGROUP_ROOT / "memory").is_dir():
        return {"memory": CGROUP_ROOT / "memory" / "coursekit" / job,
                "pids": CGROUP_ROOT / "pids" / "coursekit" / job}
    return {"unified": CGROUP_ROOT / "coursekit" / job}


def memory_limit_hit(private: Path) -> bool:
    """Whether the job's kernel reached its memory limit (the OOM killer acted in its cgroup)."""
    spec = json.loads((private / "spec.json").read_text())
    for kind, folder in cgroup_dirs(spec["job"]).items():
        if kind == "pids":
            continue
        # v1: "oom_kill N" in memory.oom_control; v2: "oom_kill N" / "max N" in memory.events.
        for name in ("memory.oom_control", "memory.events"):
            path = folder / name
            if not path.is_file():
                continue
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] in ("oom_kill", "max") and parts[1] != "0":
                    return True
        usage, limit = folder / "memory.max_usage_in_bytes", folder / "memory.limit_in_bytes"
        if usage.is_file() and limit.is_file() and int(usage.read_text()) >= int(limit.read_text()):
            return True
    return False


def _setup_cgroups(spec: Spec) -> list[str]:
    """Create and join the job's cgroups; return which limits they enforce."""
    enforced = []
    for kind, folder in cgroup_dirs(spec.job).items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "memory":
                (folder / "memory.limit_in_bytes").write_text(str(spec.memory_mb * 2**20))
                swap = folder / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(spec.memory_mb * 2**20))
                enforced.append("memory")
            elif kind == "pids":
                (folder / "pids.max").write_text(str(spec.max_processes))
                enforced.append("pids")
            else:
                parent = folder.parent
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
                (folder / "memory.max").write_text(str(spec.memory_mb * 2**20))
                (folder / "memory.swap.max").write_text("0")
                (folder / "pids.max").write_text(str(spec.max_processes))
                enforced += ["memory", "pids"]
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            continue
    return enforced


def cleanup(private: Path) -> None:
    """Stop whatever is left of a job's kernel and remove its cgroups and private folder."""
    spec_file = private / "spec.json"
    if spec_file.is_file():
        job = json.loads(spec_file.read_text())["job"]
        for folder in cgroup_dirs(job).values():
            procs = folder / "cgroup.procs"
            if procs.is_file():
                for pid in procs.read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
            for _ in range(50):  # the killed processes leave the cgroup within moments
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
    shutil.rmtree(private, ignore_errors=True)


def bwrap_command(spec: Spec, connection_file: str, kernel_args: list[str], cwd: str) -> list[str]:
    """The bwrap command line that runs ipykernel inside the sandbox."""
    return [*sandbox_prefix(spec, cwd), sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
            *kernel_args]


def sandbox_prefix(spec: Spec, cwd: str) -> list[str]:
    """bwrap and its options, up to and including the ``--`` before the confined command."""
    command = [bwrap_path(), "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
               "--die-with-parent", "--new-session", "--clearenv",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--ro-bind", path, path]
    for path in (*ETC_FILES, "/sys/devices/system/cpu"):
        command += ["--ro-bind-try", path, path]
    for path in (*python_paths(), *spec.read_only):
        command += ["--ro-bind", path, path]
    for path in spec.masked:  # e.g. the lecture code, whose from-scratch dropout is a graded answer
        command += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    # The private folder holds the IPC sockets and the connection file; the working folder
    # (nbgrader's autograded/<student>/<assignment>) is an empty size-limited tmpfs in here.
    command += ["--bind", spec.private, spec.private,
                "--size", str(spec.tmp_mb * 2**20), "--tmpfs", cwd, "--chdir", cwd]
    for key, value in spec.env.items():
        command += ["--setenv", key, value]
    # The kernel's home and temporary folder: a size-limited tmpfs of its own. Everything else of
    # the sandbox's root and /tmp (where bwrap made the folders leading to the binds, e.g. of a
    # course under /tmp) is read-only: only HOME, the working folder and the private folder are writable.
    command += ["--size", str(spec.tmp_mb * 2**20), "--tmpfs", SANDBOX_HOME]
    return [*command, "--remount-ro", "/tmp", "--remount-ro", "/", "--"]


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the sandbox goes when nbgrader goes


def main(argv: list[str] | None = None) -> None:
    """The kernelspec's command: confine this process, then exec bwrap with ipykernel."""
    parser = argparse.ArgumentParser(prog="coursekit.grading.sandbox")
    parser.add_argument("--spec", required=True)
    parser.add_argument("-f", dest="connection_file", required=True)
    args, kernel_args = parser.parse_known_args(argv)
    spec = Spec(**json.loads(Path(args.spec).read_text()))
    private = Path(spec.private)
    connection = private / "connection.json"
    shutil.copy(args.connection_file, connection)
    confine(spec)
    if spec.zygote:
        try:
            sys.exit(launch(spec, str(connection), kernel_args))
        except ZygoteUnavailable as err:
            print(f"[coursekit sandbox] kernel started without the zygote: {err}", file=sys.stderr, flush=True)
    command = bwrap_command(spec, str(connection), kernel_args, spec.workdir or os.getcwd())
    os.execv(command[0], command)


def confine(spec: Spec) -> list[str]:
    """Limits for this process and what it starts: the job's cgroups (memory, processes), the
    file-size limit, no core dumps, and death with the parent. Returns the limits cgroups enforce."""
    die_with_parent()
    enforced = _setup_cgroups(spec)
    limit = spec.max_file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if "memory" not in enforced:
        # No cgroup: cap the address space instead, with room above the memory limit for the
        # address space torch maps without using it.
        cap = (spec.memory_mb + 4096) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return enforced



# --- a kernel forked from the run's zygote (coursekit.grading.zygote) -------------------------

def launch(spec: Spec, connection_file: str, arguments: list[str]) -> int:
    """Run the kernel of this sandbox as a fork of the zygote at ``spec.zygote``; return its exit
    status when it ends. Raises ZygoteUnavailable, with nothing left running, when the zygote cannot
    make it (the caller then starts the kernel the ordinary way)."""
    workdir = spec.workdir or os.getcwd()
    anchor, first = start_anchor(sandbox_prefix(spec, workdir), subprocess.Popen, stdin=subprocess.DEVNULL)
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
        (Path(spec.private) / KERNEL_PID_FILE).write_text(str(answer["started"]))
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


def _read_info(fd: int) -> dict:
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
    main()
