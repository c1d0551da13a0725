"""A real Dask cluster on loopback for the tests and benchmarks: ``dask scheduler`` and ``dask worker``
processes, started the way an administrator starts them, each in a process group of its own.

Not part of the course package (imported as ``tests.support.dask_cluster``, like
``tests.support.classroom``). Every wait is on the cluster's state, with a deadline: the scheduler's
file, the workers the scheduler knows.

    with LoopbackCluster(folder, env) as cluster:
        cluster.add_workers(2)
        cluster.wait_for_workers(2)
        ... coursekit serve --scheduler cluster.address ...
        cluster.kill_worker(address)      # SIGKILL a worker (and its nanny) mid-task
        cluster.kill_scheduler()          # and start_scheduler() again on the same port
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Seconds the cluster may take to start a scheduler or have its workers arrive on a busy 2-core machine.
START_TIMEOUT = 120


def dask_command() -> str:
    """The ``dask`` command of the environment running the tests."""
    found = Path(sys.executable).parent / "dask"
    return str(found) if found.is_file() else (shutil.which("dask") or "dask")


class LoopbackCluster:
    """A scheduler on 127.0.0.1 and the workers added to it; :meth:`close` ends every process it started."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = {**os.environ, **(env or {})}
        folder.mkdir(parents=True, exist_ok=True)
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""
        self._client = None
        self.start_scheduler()

    # --- processes ------------------------------------------------------------------------------------
    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("a")
        try:
            return subprocess.Popen([dask_command(), *args], cwd=self.folder, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def start_scheduler(self) -> str:
        """Start ``dask scheduler`` (on the port it had before, if it ran before); its address."""
        port = self.address.rsplit(":", 1)[1] if self.address else "0"
        file = self.folder / "scheduler.json"
        file.unlink(missing_ok=True)
        self.scheduler = self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port,
                                     "--no-dashboard", "--scheduler-file", str(file))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited ({self.scheduler.returncode}): {self.log('scheduler')}")
            try:
                self.address = json.loads(file.read_text())["address"]
                return self.address
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise RuntimeError(f"dask scheduler wrote no {file} within {START_TIMEOUT} s: {self.log('scheduler')}")

    def add_workers(self, count: int) -> None:
        """Start `count` ``dask worker``s with one thread each (as docs/admin.md says to start them)."""
        for _ in range(count):
            name = f"worker-{len(self.workers)}"
            self.workers.append(self._start(name, "worker", self.address, "--nthreads", "1", "--name", name,
                                            "--no-dashboard", "--local-directory", str(self.folder / name)))

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""

    # --- state ----------------------------------------------------------------------------------------
    @property
    def client(self):
        """A client of the test's own, to look at the scheduler (made anew after a scheduler restart)."""
        from distributed import Client
        if self._client is None or self._client.status != "running":
            if self._client is not None:
                self._client.close(timeout=1)
            self._client = Client(self.address, timeout=f"{START_TIMEOUT}s", set_as_default=False)
        return self._client

    def wait_for_workers(self, count: int, timeout: float = START_TIMEOUT) -> list[str]:
        """Wait until the scheduler knows exactly `count` workers; their addresses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = sorted(self.client.nthreads())
            if len(known) == count:
                return known
            time.sleep(0.1)
        raise RuntimeError(f"the scheduler has {len(known)} worker(s), not {count}, after {timeout} s: "
                           + "\n".join(self.log(f"worker-{i}") for i in range(len(self.workers))))

    def processing(self) -> dict[str, tuple[str, ...]]:
        """worker address -> the keys of the tasks it runs now."""
        return {address: tuple(map(str, keys)) for address, keys in self.client.processing().items()}

    # --- failures -------------------------------------------------------------------------------------
    def kill_worker(self, address: str) -> None:
        """SIGKILL the worker at `address` with its nanny (its whole process group), as a machine that dies."""
        pid = self.client.run(os.getpid, workers=[address])[address]
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGKILL)
        next(w for w in self.workers if w.pid == group).wait()
        deadline = time.monotonic() + START_TIMEOUT
        while address in self.client.nthreads():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler still lists {address} {START_TIMEOUT} s after its kill")
            time.sleep(0.1)

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler (its workers, left without it, stop by themselves; they are stopped here too)."""
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()
        for worker in self.workers:
            _stop(worker)

    def close(self) -> None:
        if self._client is not None:
            self._client.close(timeout=5)
            self._client = None
        for process in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            _stop(process)

    def __enter__(self) -> LoopbackCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL it after `timeout` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
