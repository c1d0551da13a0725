"""The grading workers of one submission, seen from the grader's process.

A worker (:mod:`coursekit.partkit.serve`) is a fork of a zygote (:mod:`coursekit.grading.zygote`) that has
run no student code: it runs the course's setup cell and one group's answer cells, then answers the
grader's calls over a socket pair. In the sandbox (``coursekit grade``) every worker gets a bubblewrap
sandbox of its own (no network, its own PID namespace and tmpfs, its own cgroup), so a cell that kills
every process it can see, or plants files, reaches only its own worker. Without the sandbox the
grading process starts a zygote of its own for its workers.

What comes back is only data (:mod:`coursekit.partkit.wire`): the grader never runs anything a worker sends.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any

from coursekit.environment import ENV_THREADS
from coursekit.partkit.wire import Channel, WireError, WireTimeout

#: Seconds one call may take (a network's forward pass on a batch, a cell's whole run: ``run``).
CALL_TIMEOUT = 60.0


class WorkerGone(RuntimeError):
    """The worker stopped answering (it died, hung, or sent something that is not a message)."""


class Worker:
    """One worker: :meth:`ask` sends a request and returns its answer (a dict of plain data)."""

    def __init__(self, name: str, channel: Channel, stop, diagnose=None) -> None:
        self.name, self.channel, self._stop, self._diagnose = name, channel, stop, diagnose
        self.gone: str | None = None
        self.broke = False  # the connection broke (not a time limit, not the memory limit)
        self.cells: list[dict[str, Any]] = []

    def ask(self, op: str, timeout: float = CALL_TIMEOUT, **args: Any) -> dict[str, Any]:
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            self.channel.send({"op": op, "args": args})
            answer = self.channel.receive(timeout)
        except WireError as err:
            why = self._diagnose() if self._diagnose is not None else None
            self.broke = why is None and not isinstance(err, WireTimeout)
            self.gone = f"评分进程停止了响应（{why or err}）"
            self.close()
            raise WorkerGone(self.gone) from None
        if not isinstance(answer, dict):
            self.gone = "评分进程的回答无法识别"
            self.close()
            raise WorkerGone(self.gone)
        if "failed" in answer:
            raise WorkerGone(f"评分进程无法完成请求（{answer['failed']}）")
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.close()
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


class _Spawner:
    """Starts this process's children from one thread that lives as long as the process.

    A child that asks to die with its parent (bubblewrap's ``--die-with-parent``, the zygote) is bound
    by Linux to the *thread* that started it, and nbclient runs cells in threads that come and go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def run(self, function, *args, **kwargs):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="coursekit-spawner", daemon=True)
                self._thread.start()
        future: Future = Future()
        self._queue.put((future, function, args, kwargs))
        return future.result()

    def _loop(self) -> None:
        while True:
            future, function, args, kwargs = self._queue.get()
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as err:  # handed to the caller, which raises it
                future.set_exception(err)


SPAWNER = _Spawner()


def _spawned(*args, **kwargs) -> subprocess.Popen:
    """subprocess.Popen, from the spawner's thread."""
    return SPAWNER.run(subprocess.Popen, *args, **kwargs)


class _LocalZygote:
    """This process's own zygote, for workers without the sandbox (started once, on first use)."""

    _lock = threading.Lock()
    _instance = None

    @classmethod
    def socket(cls) -> str:
        with cls._lock:
            if cls._instance is not None and cls._instance._process.poll() is not None:
                cls._instance.close()
                cls._instance = None
            if cls._instance is None:
                from coursekit.grading.zygote import Zygote
                # One thread, as the grading kernels compute (a zygote with threads may not fork).
                threads = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
                env = {**os.environ, **threads, ENV_THREADS: "1", "MPLBACKEND": "Agg"}
                cls._instance = SPAWNER.run(Zygote, env)
                atexit.register(cls._instance.close)
            path = cls._instance.socket
        deadline = time.monotonic() + CALL_TIMEOUT
        while not os.path.exists(path):  # the zygote listens first thing, before its imports
            if time.monotonic() > deadline or cls._instance._process.poll() is not None:
                raise RuntimeError("the grading process's zygote did not start")
            time.sleep(0.01)
        return path


class Workers:
    """Starts the workers of one submission; ``settings`` is the kernel's sandbox spec (or None)."""

    def __init__(self, settings: dict[str, Any] | None, cell_timeout: float = 0) -> None:
        self.settings, self.cell_timeout = settings, cell_timeout
        self._started: list[Worker] = []
        self._lock = threading.Lock()

    def start(self, name: str, cells: list[tuple[str, str]], ops: str = "") -> Worker:
        """A worker that has run ``cells`` (name, source), in order. Raises WorkerGone when none starts.
        ``ops``: the assignment's worker operations (``module:NAME``), added before the cells run.

        A worker whose connection breaks while it runs its cells is started once more, afresh: the
        cells are the same, so a cell that kills its own worker fails again and says so, while a
        worker lost for any other reason costs nothing. (Not after the cell time limit or the memory
        limit: those are the cells' own.)"""
        worker = self._started_worker(name, cells, ops)
        if worker.gone and worker.broke:
            print(f"[coursekit] grading worker {name}: {worker.gone} while running its cells; started again",
                  file=sys.stderr, flush=True)
            worker = self._started_worker(name, cells, ops)
        if worker.gone:
            raise WorkerGone(worker.gone)
        return worker

    def _started_worker(self, name: str, cells: list[tuple[str, str]], ops: str = "") -> Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            stop, diagnose = self._spawn(name, theirs)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            ours.close()
            raise WorkerGone(f"评分进程无法启动（{type(err).__name__}: {err}）") from None
        finally:
            theirs.close()
        worker = Worker(name, Channel(ours), stop, diagnose)
        with self._lock:
            self._started.append(worker)
        limit = (self.cell_timeout or CALL_TIMEOUT) * len(cells) + CALL_TIMEOUT
        try:
            worker.cells = worker.ask("run", timeout=limit, cells=[list(c) for c in cells],
                                      cell_timeout=self.cell_timeout, ops=ops)["cells"]
        except WorkerGone:
            pass  # worker.gone says why
        return worker

    def close(self) -> None:
        with self._lock:
            started, self._started = self._started, []
        for worker in started:
            worker.close()

    # --- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, end: socket.socket):
        settings = self.settings
        if settings:
            return self._spawn_sandboxed(name, end, settings)
        request = {"worker": True, "cwd": os.getcwd()}
        _ask_zygote(_LocalZygote.socket(), request, end)
        return None, None

    def _spawn_sandboxed(self, name: str, end: socket.socket, settings: dict[str, Any]):
        from coursekit.grading import sandbox
        private = Path(tempfile.mkdtemp(prefix=f"coursekit-{settings['job']}-{name}-"))
        spec = sandbox.Spec(**{**settings, "job": f"{settings['job']}-{name}", "private": str(private),
                               "ipc_prefix": str(private / "unused")})
        spec_path = private / "spec.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        workdir = spec.workdir or str(private)
        if not spec.zygote:
            return self._spawn_fresh(end, spec, workdir, private)
        try:
            anchor, first = sandbox.start_anchor(sandbox.sandbox_prefix(spec, workdir), _spawned,
                                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL)
        except sandbox.ZygoteUnavailable as err:
            return self._spawn_fresh(end, spec, workdir, private, why=str(err))

        def stop() -> None:
            anchor.kill()
            anchor.wait()
            sandbox.cleanup(private)

        request = {"worker": True, "spec": str(spec_path), "anchor": first, "cwd": workdir}
        try:
            _ask_zygote(spec.zygote, request, end)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            anchor.kill()
            anchor.wait()
            return self._spawn_fresh(end, spec, workdir, private, why=f"{type(err).__name__}: {err}")
        except BaseException:
            stop()
            raise
        return stop, _diagnosis(private)

    def _spawn_fresh(self, end: socket.socket, spec, workdir: str, private: Path, why: str = ""):
        """No zygote (a Dask worker), or one that cannot fork into the sandbox: a fresh interpreter in
        the same kind of sandbox instead (slower to start, as confined; the submission's log says why)."""
        from coursekit.grading import sandbox
        if why:
            print(f"[coursekit] grading worker started without the zygote ({why})", file=sys.stderr, flush=True)
        process = _spawned([*sandbox.sandbox_prefix(spec, workdir), sys.executable, "-m", "coursekit.partkit.serve",
                            str(end.fileno())], pass_fds=[end.fileno()], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=lambda: sandbox.confine(spec))

        def stop() -> None:
            process.kill()
            process.wait()
            sandbox.cleanup(private)

        return stop, _diagnosis(private)


def _diagnosis(private: Path):
    """Why a sandboxed worker stopped answering, when its sandbox knows (its memory limit)."""
    from coursekit.grading import sandbox

    def diagnose() -> str | None:
        return "超出了内存上限，被评分沙箱终止" if sandbox.memory_limit_hit(private) else None

    return diagnose


def _ask_zygote(path: str, request: dict[str, Any], end: socket.socket) -> None:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(60)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        client.connect(path)
        client.sendmsg([json.dumps(request).encode() + b"\n"],
                       [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [end.fileno(), devnull, devnull]))])
        answer = json.loads(client.makefile("rb").readline() or b"{}")
        if "started" not in answer:
            raise RuntimeError(answer.get("failed", "the zygote did not answer"))
    finally:
        os.close(devnull)
        client.close()

