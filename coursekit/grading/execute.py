"""nbgrader's Execute step, hardened for grading a whole class (configured in nbgrader_config.py).

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader autograde``.
nbgrader still executes the notebook and scores every cell from its outputs; this class adds:

* **verdicts formed by the grader** (:mod:`coursekit.grading.judge`): graded cells are not run in the
  kernel; the judge measures each part itself, calling the student's functions in grading workers on
  inputs it chose, and writes the cell's outputs (the experiment's figure, the pass line or the
  failure). The kernel runs the rest of the notebook for the feedback's sake; nothing it does
  reaches a verdict;
* **a kernel that dies or hangs** (``os._exit``, the memory limit, an infinite loop that ignores
  the interrupt) stops running the rest of the notebook's cells, with the reason; the graded
  cells are still graded (their workers are their own);
* **an output cap**: printed output beyond ``[grading] output_limit_kb`` per cell is dropped and
  a note says how much;
* **the sandbox** (:mod:`coursekit.grading.sandbox`): when ``coursekit grade`` sets it up, the kernel is
  started inside bubblewrap and reached over Jupyter's IPC transport. ``coursekit grade`` starts that
  kernel as soon as its grading process begins (:func:`prestart_kernel`), so that the kernel's own
  start-up (Python, ipykernel, torch) runs while nbgrader sanitizes the submission;
* **no waiting for the kernel to end**: once the last cell has run the kernel is stopped at once
  (``shutdown_kernel = "immediate"``; everything it produced has already arrived) and reaped
  without jupyter_client's 0.1 s polling (:func:`stop_now`); a new kernel counts as ready without
  its 0.2 s waits for quiet (:class:`ReadyClient`);
* **phases** (:mod:`coursekit.grading.phases`): wall and CPU time of the review, the kernel's
  start, every cell, the verdicts and the kernel's end, written into nbgrader's log.

Every reason reaches the student as an error or a note in the graded cell's output, which
nbgrader's feedback shows.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Enum, Integer

from coursekit.environment import ENV_SANDBOX
from coursekit.grading import phases
from coursekit.grading.cells import error_output, grade_id, is_answer, is_graded_test, is_trusted, note_output
from coursekit.grading.judge import Judge, assignment_parts
from coursekit.grading.sandbox import KERNEL_PID_FILE

#: Runs at kernel start, before the first cell of the notebook (inline figures, as the notebook's own).
KERNEL_STARTUP = "get_ipython().run_line_magic('matplotlib', 'inline')"


def sandbox_settings() -> dict[str, Any] | None:
    """The sandbox spec ``coursekit grade`` prepared for this process's submission, or None."""
    spec = os.environ.get(ENV_SANDBOX)
    return json.loads(Path(spec).read_text()) if spec else None


def use_sandbox(km, settings: dict[str, Any]) -> None:
    """Make kernel manager ``km`` start the sandbox's kernel and reach it over IPC."""
    km.kernel_name = settings["kernel_name"]
    km.transport = "ipc"
    km.ip = settings["ipc_prefix"]


#: The kernel :func:`prestart_kernel` started for this process's submission (taken by GuardedExecute).
_prestarted = None


def prestart_kernel() -> bool:
    """Start the sandboxed kernel of this process's one submission now (``coursekit grade`` calls
    this first thing in the grading process). Its start-up then overlaps nbgrader's sanitizing
    and the review; nothing of the submission is in it until GuardedExecute runs the cells, and a
    submission found tampering gets it stopped unused. The kernel is started exactly as
    GuardedExecute would start it (the same kernelspec, :func:`kernel_arguments` and limits). Returns whether a
    kernel was started (only in the sandbox: there the working folder is the sandbox's own)."""
    global _prestarted
    settings = sandbox_settings()
    if settings is None or _prestarted is not None:
        return False
    from jupyter_client.manager import AsyncKernelManager
    km = AsyncKernelManager(kernel_name=settings["kernel_name"], client_factory=ReadyClient)
    use_sandbox(km, settings)
    run_sync(km.start_kernel)(extra_arguments=kernel_arguments(), cwd=settings["private"])
    _prestarted = km
    clock = phases.current()
    if clock is not None:
        clock.kernel_pid = kernel_pid(km)
        clock.kernel_pid_file = Path(settings["private"]) / KERNEL_PID_FILE
    return True


def _take_prestarted():
    global _prestarted
    km, _prestarted = _prestarted, None
    return km


class ReadyClient(AsyncKernelClient):
    """jupyter_client's kernel client with a shorter wait for a new kernel to be ready.

    jupyter_client's ``wait_for_ready`` asks for kernel_info until a reply and an IOPub message have
    both come back, then drains IOPub until it has been quiet for 0.2 s: 0.2 s of every submission
    spent waiting. Here the same steps wait 0.02 s: over the kernel's local socket its messages follow
    each other within milliseconds, and nbclient ignores any message that is not about the cell it runs.
    """

    QUIET = 0.02

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        from queue import Empty
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:  # IOPub connected? (its first messages may be lost until it is)
                    await ensure_async(self.iopub_channel.get_msg(timeout=self.QUIET))
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await ensure_async(self.is_alive()):
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while True:  # what is left of the kernel_info exchanges
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=self.QUIET))
            except Empty:
                break


def stop_now(km) -> None:
    """Kill a kernel at once, as ``shutdown_kernel(now=True)`` does, but reap its process with a
    blocking wait: jupyter_client polls it every 0.1 s (≈ 0.1 s of every submission)."""
    provisioner = km.provisioner
    process = getattr(provisioner, "process", None)
    if process is not None and process.poll() is None:
        run_sync(provisioner.kill)()
        process.wait()
    run_sync(km.cleanup_resources)()


#: IPython's history of the grading kernel stays in memory (nbclient asks the same of an ipykernel
#: kernelspec; the sandbox's is not one). A history file costs ≈ 1.5–2 ms of the kernel's CPU per cell.
IN_MEMORY_HISTORY = "--HistoryManager.hist_file=:memory:"


def kernel_arguments() -> list[str]:
    """The grading kernel's extra arguments: its startup line, and IPython's history in memory."""
    return [f"--IPKernelApp.exec_lines={json.dumps([KERNEL_STARTUP])}", IN_MEMORY_HISTORY]


def kernel_pid(km) -> int | None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


class GuardedExecute(Execute):
    """nbgrader's Execute with the grader's verdicts, the dead-kernel handling and the output cap."""

    output_limit_kb = Integer(256, help="Printed output kept per cell, in kilobytes.").tag(config=True)
    # The last cell's outputs have all arrived when the kernel is stopped: waiting for it to tidy
    # up (atexit handlers, torch's teardown) only costs time (≈ 1.2 s measured).
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help=Execute.shutdown_kernel.help).tag(config=True)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        self.extra_arguments = [*self.extra_arguments,
                                *(arg for arg in kernel_arguments() if arg not in self.extra_arguments)]
        await super().async_start_new_kernel(**kwargs)
        self._clock.kernel_pid = kernel_pid(self.km)
        settings = sandbox_settings()
        if settings:
            self._clock.kernel_pid_file = Path(settings["private"]) / KERNEL_PID_FILE

    # nbclient binds the synchronous wrapper to the function, not to the method name.
    start_new_kernel = run_sync(async_start_new_kernel)

    # --- the kernel (sandboxed when coursekit grade asks for it) -------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.client_factory = ReadyClient
        settings = sandbox_settings()
        if settings:
            use_sandbox(km, settings)
        return km

    # --- one notebook ---------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        # The clock of `coursekit grade`'s grading process, else one of this notebook's own.
        self._clock = phases.current() or phases.PhaseClock()
        if self._clock is phases.current():
            self._clock.lap("nbgrader: gradebook, sanitize")
        self._first_cell = True
        self._stopped: str | None = None      # why the kernel can no longer run cells
        self._output_bytes: dict[int, int] = {}
        assignment = (resources or {}).get("nbgrader", {}).get("assignment")
        config = _course_config()
        self._judge = Judge(assignment_parts(config, assignment) if config is not None else None, config)
        self._judge.review(nb.cells)
        self._judge.start(nb.cells, sandbox_settings(), Path.cwd(), self.timeout or 0)
        self._clock.lap("review of the student's code")
        prestarted = _take_prestarted() if km is None else None
        connected = False
        try:
            connected = True
            return super().preprocess(nb, resources, km or prestarted)
        finally:
            self._judge.close()
            if prestarted is not None:
                # Not nbclient's own kernel manager, so nbclient leaves stopping it to us.
                if connected and self.kc is not None:
                    self.kc.stop_channels()
                stop_now(prestarted)
            self._clock.lap("kernel stop")
            if phases.current() is not self._clock:
                self.log.info(self._clock.line("nbgrader"))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if is_graded_test(cell) and self._judge.handles(cell):
            if self._first_cell:
                self._first_cell = False
                self._clock.lap("kernel start: sandbox, ipykernel, imports")
            self._judge.grade(cell)  # measured by the judge; the kernel does not run it
            self._clock.lap(f"verdict {grade_id(cell)}")
            return cell, resources
        if not is_trusted(cell) and not is_answer(cell):
            cell.outputs = [note_output("评分时不运行你自己添加的单元格（只运行答案单元格和课程的单元格）。")]
            return cell, resources
        if self._stopped is not None:
            cell.outputs = [error_output("NotRun", f"这个单元格没有运行：{self._stopped}")] \
                if is_graded_test(cell) else []
            return cell, resources
        if self._first_cell:
            self._first_cell = False
            self._clock.lap("kernel start: sandbox, ipykernel, imports")
        cell, resources = self._run(cell, resources, index)
        self._clock.lap(f"{'trusted' if is_trusted(cell) else 'answer'} cell {grade_id(cell) or index + 1}")
        return cell, resources

    def _run(self, cell, resources, index):
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = f"内核在第 {index + 1} 个单元格中停止了（{self._death_reason()}）。"
            cell.outputs.append(error_output("KernelDied", self._stopped))
            return cell, resources
        except CellTimeoutError:
            # The reply came but its output did not (nbgrader raises on the iopub timeout).
            cell.outputs.append(error_output("OutputTimeout", "这个单元格的输出没有按时到达评分程序。"))
            if not self._responsive():
                self._stopped = f"第 {index + 1} 个单元格的输出中断后内核仍无响应（可能是无限循环）。"
                cell.outputs.append(note_output(f"{self._stopped}之后的单元格不再运行（计分单元格照常评分）。"))
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            cell.outputs.append(note_output(f"这个单元格运行超过 {self.timeout} 秒，已被中断。"))
            if not self._responsive():
                self._stopped = (f"第 {index + 1} 个单元格运行超过 {self.timeout} 秒，中断后内核仍无响应"
                                 f"（可能是无限循环）。")
                cell.outputs.append(note_output(f"{self._stopped}之后的单元格不再运行（计分单元格照常评分）。"))
        return cell, resources

    def _death_reason(self) -> str:
        spec = os.environ.get(ENV_SANDBOX)
        if spec and Path(spec).is_file():
            from coursekit.grading.sandbox import memory_limit_hit
            if memory_limit_hit(Path(spec).parent):
                return "超出了内存上限，被评分沙箱终止"
        return "代码调用了 os._exit/sys.exit 之类的退出，或进程崩溃、被系统终止"

    # --- is the kernel still there ---------------------------------------------------------------
    async def _async_probe(self, timeout: float) -> dict[str, Any] | None:
        assert self.kc is not None
        msg_id = await ensure_async(self.kc.execute("", silent=True, store_history=False))
        try:
            reply = await ensure_async(self.kc.get_shell_msg(timeout=timeout))
            while reply.get("parent_header", {}).get("msg_id") != msg_id:
                reply = await ensure_async(self.kc.get_shell_msg(timeout=timeout))
        except Exception:  # queue.Empty on timeout; a dead channel otherwise
            return None
        return reply["content"]

    def _responsive(self) -> bool:
        return run_sync(self._async_probe)(10) is not None

    # --- the output cap --------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            limit = self.output_limit_kb * 1024
            used = self._output_bytes.get(cell_index, 0)
            data = msg["content"].get("text", "").encode("utf-8", "replace")
            self._output_bytes[cell_index] = used + len(data)
            if used + len(data) > limit:
                if used > limit:
                    return None  # already cut, already noted
                # Keep what fits (the kernel may have sent earlier prints in the same message).
                kept = data[:limit - used].decode("utf-8", "ignore")
                msg = {**msg, "content": {**msg["content"], "text": kept}}
                out = super().output(outs, msg, display_id, cell_index) if kept else None
                outs.append(note_output(f"输出超过 {self.output_limit_kb} KB，其余部分没有保留。"))
                self._output_bytes[cell_index] = limit + 1
                return out
        return super().output(outs, msg, display_id, cell_index)


class RepairTestCells(NbGraderPreprocessor):
    """Before nbgrader's OverwriteCells, make the submission's nbgrader cells something it can handle.

    * A cell whose nbgrader metadata names a grade_id the gradebook does not know (a renamed test
      cell, hand-made metadata) becomes an ordinary cell: nbgrader would drop only the grade_id and
      then fail the whole submission on the half-empty metadata.
    * A known cell gets its kind (graded, answer, locked) back from the gradebook: a test cell
      unlocked or marked as an answer by the student would otherwise fail nbgrader's checksums.
    * A deleted test cell is put back from the gradebook right after the nearest instructor or
      answer cell before it that is still there. (nbgrader's own ``add_missing_cells`` looks only
      at graded and answer cells and fails when the cell before is a locked, ungraded one.)

    OverwriteCells then restores every test cell's source and points from the gradebook.
    """

    def preprocess(self, nb, resources):
        from nbgrader.preprocessors import OverwriteCells
        with Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            source = gradebook.find_notebook(resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"])
            order = [cell.name for cell in source.source_cells]
            cells = {cell.name: cell for cell in source.source_cells}
            graded = {cell.name: cell.max_score for cell in source.grade_cells}
            answers = {cell.name for cell in source.solution_cells}
        for cell in nb.cells:
            meta = cell.get("metadata", {})
            if "nbgrader" not in meta:
                continue
            name = meta["nbgrader"].get("grade_id")
            if name not in cells:
                self.log.warning("Cell with unknown grade_id %r: graded as an ordinary cell", name)
                del meta["nbgrader"]
                continue
            # What kind of cell it is comes from the gradebook, not from the submission (a test
            # cell the student unlocked or marked as an answer is a locked test cell again).
            kind = {"grade": name in graded, "solution": name in answers, "locked": bool(cells[name].locked)}
            if any(meta["nbgrader"].get(key) != value for key, value in kind.items()):
                self.log.warning("Cell %s: nbgrader metadata changed in the submission, restored", name)
                meta["nbgrader"].update(kind)
        restore = OverwriteCells()
        for position, name in enumerate(order):
            present = [grade_id(c) for c in nb.cells]
            if name not in graded or name in present:
                continue
            self.log.warning("Test cell %s was deleted from the submission: put back from the gradebook", name)
            before = [n for n in order[:position] if n in present]
            index = present.index(before[-1]) + 1 if before else 0
            cell = restore.missing_cell_transform(cells[name], graded[name], is_solution=name in answers)
            nb.cells.insert(index, nbformat.from_dict(cell))  # attribute access all the way down
        return nb, resources


def _course_config():
    """course.toml of the course being graded (None outside a course folder: then no part is judged)."""
    from coursekit.config import ConfigError, load_config
    try:
        return load_config()
    except ConfigError:
        return None
