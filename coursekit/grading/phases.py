"""Where the grading time of one submission goes: wall and CPU time by phase.

The grader's process keeps a :class:`PhaseClock` while it grades a submission: every phase ends
with :meth:`PhaseClock.lap`, which records the wall time since the previous lap, the CPU time this
process spent, and the CPU time the kernel's process tree spent (read from ``/proc``, so it is
counted inside the sandbox too). The phases are written into nbgrader's log of the submission
as one line starting with :data:`PREFIX` (``autograded/.coursekit-<assignment>-logs/<student>.log``);
``benchmarks/grading_phases.py`` reads them back with :func:`parse`.

Measuring costs a few ``/proc`` reads per cell and changes nothing that is graded.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: How a line of phases starts in a log.
PREFIX = "[coursekit phases]"
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """One phase: its name, wall seconds, CPU seconds of the grader's process and of the kernel."""

    name: str
    wall: float
    cpu: float
    kernel_cpu: float = 0.0


def process_cpu() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_cpu(pid: int | None) -> float:
    """CPU seconds used by process ``pid`` and all its descendants, finished ones included
    (0.0 when there is no such process or /proc cannot tell)."""
    if not pid:
        return 0.0
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            # utime, stime, cutime, cstime: fields 14-17 of stat(5); here from index 11 on.
            total += sum(int(v) for v in fields[11:15]) / _TICKS
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


class PhaseClock:
    """The phases of one submission, in the order they happened.

    A phase may be lapped several times (``verdicts`` once per graded cell): its times add up and
    it keeps its first place in the list.
    """

    def __init__(self, origin: float | None = None) -> None:
        """``origin``: a ``time.time()`` at which the first phase began (e.g. when the coordinator
        launched this process); default now."""
        now = time.time()
        self._wall = now if origin is None else min(origin, now)
        self._cpu = 0.0 if origin is not None else process_cpu()
        self._kernel = 0.0
        self.kernel_pid: int | None = None
        #: Where the sandbox's launcher writes the pid of a kernel it did not start itself (one forked
        #: from the run's zygote, coursekit.grading.zygote): that process tree is the kernel's too.
        self.kernel_pid_file: Path | None = None
        self.phases: dict[str, Phase] = {}

    def lap(self, name: str) -> Phase:
        """End the current phase as ``name``; the next phase starts now."""
        wall, cpu = time.time(), process_cpu()
        kernel = tree_cpu(self.kernel_pid) + tree_cpu(self._adopted()) if self.kernel_pid else self._kernel
        phase = self.phases.setdefault(name, Phase(name, 0.0, 0.0, 0.0))
        phase.wall += max(0.0, wall - self._wall)
        phase.cpu += max(0.0, cpu - self._cpu)
        phase.kernel_cpu += max(0.0, kernel - self._kernel)
        self._wall, self._cpu, self._kernel = wall, cpu, kernel
        return phase

    def _adopted(self) -> int | None:
        try:
            return int(self.kernel_pid_file.read_text()) if self.kernel_pid_file else None
        except (OSError, ValueError):
            return None

    def line(self, source: str) -> str:
        """The phases as one log line (``source`` says which process measured them)."""
        return f"{PREFIX} " + json.dumps({"source": source, "phases": [asdict(p) for p in self.phases.values()]},
                                         ensure_ascii=False)


def parse(log: str) -> list[Phase]:
    """Every phase recorded in a log, in the order the lines were written."""
    found: list[Phase] = []
    for line in log.splitlines():
        start = line.find(PREFIX)
        if start < 0:
            continue
        try:
            record = json.loads(line[start + len(PREFIX):])
            found += [Phase(**p) for p in record["phases"]]
        except (ValueError, KeyError, TypeError):
            continue
    return found


#: The clock of the submission this process is grading, when the process grades exactly one
#: (a ``coursekit grade`` worker process sets it; nbgrader's own autograde of a class does not).
_current: PhaseClock | None = None


def start_submission(origin: float | None = None) -> PhaseClock:
    """Start the clock of the one submission this process grades."""
    global _current
    _current = PhaseClock(origin)
    return _current


def current() -> PhaseClock | None:
    return _current
