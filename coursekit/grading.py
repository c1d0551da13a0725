"""nbgrader's Execute step, hardened for grading a whole class (configured in nbgrader_config.py).

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader autograde``.
nbgrader still executes the notebook and scores every cell from its outputs; this class adds:

* **a guard** (:mod:`coursekit.guard`): the kernel records the tests' tools before any student
  cell, and before each instructor-written cell the grader has them checked and restored. After
  the first tampering every graded cell fails with a message naming what was changed;
* **a kernel that dies or hangs** (``os._exit``, the memory limit, an infinite loop that ignores
  the interrupt) fails the remaining graded cells with the reason, instead of failing the whole
  submission: cells graded before it keep their points;
* **an output cap**: printed output beyond ``[grading] output_limit_kb`` per cell is dropped and
  a note says how much;
* **the sandbox** (:mod:`coursekit.sandbox`): when ``coursekit grade`` sets it up, the kernel is
  started inside bubblewrap and reached over Jupyter's IPC transport.

Every reason reaches the student as an error or a note in the graded cell's output, which
nbgrader's feedback shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer

from coursekit.spec import DEFINITIONS

#: What the grader evaluates in the kernel before each instructor-written cell.
GUARD_EXPRESSION = "__import__('coursekit.guard', fromlist=['check_and_restore']).check_and_restore()"
#: Runs at kernel start, before the first cell of the notebook
#: (Inline figures first: the notebook turns them on too, and the guard must see that hook as normal.)
GUARD_STARTUP = ("get_ipython().run_line_magic('matplotlib', 'inline'); import coursekit.guard as _coursekit_guard; "
                 "_coursekit_guard.install(); del _coursekit_guard; import coursekit.parts as _coursekit_parts; "
                 "_coursekit_parts.send_measurements(); del _coursekit_parts")
#: Prefix of the notes the grader adds to a cell's output (the feedback summary collects them).
NOTE_PREFIX = "[评分程序]"
PROBE_TIMEOUT = 20


def _trusted(cell: NotebookNode) -> bool:
    """An instructor-written code cell: locked by nbgrader and not a solution cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked")) and not meta.get("solution") and cell.cell_type == "code"


def _answer(cell: NotebookNode) -> bool:
    """A code cell the student answers in (an nbgrader solution cell)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution")) and cell.cell_type == "code"


def _graded_test(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def note_output(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stderr", text=f"{NOTE_PREFIX} {text}\n")


class GuardedExecute(Execute):
    """nbgrader's Execute with the guard, the dead-kernel handling and the output cap."""

    output_limit_kb = Integer(256, help="Printed output kept per cell, in kilobytes.").tag(config=True)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        startup = f"--IPKernelApp.exec_lines={json.dumps([GUARD_STARTUP])}"
        if startup not in self.extra_arguments:
            self.extra_arguments = [*self.extra_arguments, startup]
        await super().async_start_new_kernel(**kwargs)

    # nbclient binds the synchronous wrapper to the function, not to the method name.
    start_new_kernel = run_sync(async_start_new_kernel)

    # --- the kernel (sandboxed when coursekit grade asks for it) -------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        spec = os.environ.get("COURSEKIT_SANDBOX")
        if spec:
            settings = json.loads(Path(spec).read_text())
            km.kernel_name = settings["kernel_name"]
            km.transport = "ipc"
            km.ip = settings["ipc_prefix"]
        return km

    # --- one notebook ---------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None      # why the kernel can no longer run cells
        self._tampered: list[str] | None = None
        self._output_bytes: dict[int, int] = {}
        self._judge = Judge()                  # imports torch while the kernel starts
        self._tampered = self._judge.review(nb.cells) or None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if not _trusted(cell) and not _answer(cell):
            cell.outputs = [note_output("评分时不运行你自己添加的单元格（只运行答案单元格和课程的单元格）。")]
            return cell, resources
        if self._stopped is not None:
            cell.outputs = [error_output("NotRun", f"这个单元格没有运行：{self._stopped}")] \
                if _graded_test(cell) else []
            return cell, resources
        if _trusted(cell) and not self._tampered:
            self._check_kernel(cell)
        if self._tampered:
            # Nothing after the tampering is run: its results could not be trusted.
            cell.outputs = [error_output(
                "TamperingDetected",
                "提交的代码伸手去改评分程序或 Python 运行环境（" + "；".join(self._tampered[:8])
                + "），所以自动评分的各项都不得分。请删掉这些代码后重新提交。")] \
                if _graded_test(cell) else []
            return cell, resources
        cell, resources = self._run(cell, resources, index)
        if _graded_test(cell):
            self._judge.verdict(cell)
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
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            cell.outputs.append(note_output(f"这个单元格运行超过 {self.timeout} 秒，已被中断。"))
            if not self._responsive():
                self._stopped = (f"第 {index + 1} 个单元格运行超过 {self.timeout} 秒，中断后内核仍无响应"
                                 f"（可能是无限循环）。")
        return cell, resources

    def _death_reason(self) -> str:
        spec = os.environ.get("COURSEKIT_SANDBOX")
        if spec and Path(spec).is_file():
            from coursekit.sandbox import memory_limit_hit
            if memory_limit_hit(Path(spec).parent):
                return "超出了内存上限，被评分沙箱终止"
        return "代码调用了 os._exit/sys.exit 之类的退出，或进程崩溃、被系统终止"

    # --- the guard ---------------------------------------------------------------------------
    async def _async_probe(self, timeout: float) -> dict[str, Any] | None:
        assert self.kc is not None
        msg_id = await ensure_async(self.kc.execute("", silent=True, store_history=False,
                                                    user_expressions={"guard": GUARD_EXPRESSION}))
        try:
            reply = await ensure_async(self.kc.get_shell_msg(timeout=timeout))
            while reply.get("parent_header", {}).get("msg_id") != msg_id:
                reply = await ensure_async(self.kc.get_shell_msg(timeout=timeout))
        except Exception:  # queue.Empty on timeout; a dead channel otherwise
            return None
        return reply["content"]

    def _responsive(self) -> bool:
        return run_sync(self._async_probe)(10) is not None

    def _check_kernel(self, cell: NotebookNode) -> None:
        content = run_sync(self._async_probe)(PROBE_TIMEOUT)
        if content is None:
            self._stopped = "内核没有响应评分程序的检查。"
            return
        result = content.get("user_expressions", {}).get("guard", {})
        if content.get("status") != "ok" or result.get("status") != "ok":
            self._tampered = ["评分程序无法检查内核状态（单元格的执行方式被改变了）"]
            return
        import ast
        try:
            changed = json.loads(ast.literal_eval(result["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError):
            changed = ["评分程序的检查返回了无法识别的结果"]
        if changed:
            self._tampered = list(changed)

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
            present = [self._grade_id(c) for c in nb.cells]
            if name not in graded or name in present:
                continue
            self.log.warning("Test cell %s was deleted from the submission: put back from the gradebook", name)
            before = [n for n in order[:position] if n in present]
            index = present.index(before[-1]) + 1 if before else 0
            cell = restore.missing_cell_transform(cells[name], graded[name], is_solution=name in answers)
            nb.cells.insert(index, nbformat.from_dict(cell))  # attribute access all the way down
        return nb, resources

    @staticmethod
    def _grade_id(cell) -> str | None:
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class Judge:
    """The verdicts of one submission, formed in the grader's process (no student code runs here).

    * :meth:`review` reads every code cell before anything runs (:mod:`coursekit.review`):
      tampering anywhere fails every autograded part; a forbidden shortcut fails the parts of its
      definition and the experiments that run it.
    * :meth:`verdict` replaces a graded cell's outcome: the kernel's measurement
      (:data:`coursekit.parts.MIME`) is taken out of the outputs and judged here; the cell passes
      only when every measurement the part needs arrived and passed and the kernel raised nothing.
    """

    def __init__(self) -> None:
        import threading
        self._forbidden: dict[str, str] = {}       # definition -> what breaks its rules
        self._verdicts: dict[str, bool] = {}       # grade_id -> passed, in notebook order
        self._parts = None
        self._loader = threading.Thread(target=self._load, daemon=True)
        self._loader.start()

    def _load(self) -> None:
        from coursekit import parts
        self._parts = parts

    @property
    def parts(self):
        self._loader.join()
        if self._parts is None:
            from coursekit import parts  # the loader failed: import here to see the error
            self._parts = parts
        return self._parts

    # --- before anything runs -----------------------------------------------------------------
    def review(self, cells: list[NotebookNode]) -> list[str]:
        """Review every code cell; return the tampering found (empty when there is none)."""
        from coursekit.review import by_definition, describe, graded_results, protected_names, review
        graded = [c.source for c in cells if _graded_test(c)]
        protected = protected_names(graded, defined=DEFINITIONS)
        results = graded_results(graded, defined=DEFINITIONS)
        tampering: list[str] = []
        for cell in cells:
            if cell.cell_type != "code" or _trusted(cell):
                continue
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") if _answer(cell) else None
            findings = review(cell.source, todo=gid, protected=protected, answer=_answer(cell), results=results)
            where = f"答案单元格 {gid}" if gid else "你添加的单元格"
            tampering += [f"{where} {f.describe()}" for f in findings if f.kind == "tampering"]
            forbidden = [f for f in findings if f.kind == "forbidden"]
            for name, found in by_definition(cell.source, forbidden).items():
                self._forbidden[name] = describe(found)
        return tampering

    # --- after a graded cell ran ----------------------------------------------------------------
    def verdict(self, cell: NotebookNode) -> None:
        parts = self.parts
        gid = cell.metadata["nbgrader"]["grade_id"]
        part = parts.PARTS.get(gid)
        if part is None:
            return  # not an autograded part of this lab (nbgrader grades it from its outputs)
        sent = [o for o in cell.outputs if o.get("output_type") == "display_data" and parts.MIME in o.get("data", {})]
        kept = [_keepable(o) for o in cell.outputs if o not in sent]
        errors = [o for o in kept if o.get("output_type") == "error"]
        message = self._message(part, sent, errors)
        self._verdicts[gid] = message is None
        cell.outputs = [o for o in kept if o is not None]
        if message is None:
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"{NOTE_PREFIX} {part.title}：通过。\n"))
        else:
            cell.outputs.append(error_output("CheckFailed", message))

    def _message(self, part, sent: list[NotebookNode], errors: list[NotebookNode]) -> str | None:
        parts = self.parts
        rule = self._forbidden.get(part.definition) if not part.runs else None
        if rule:
            return f"{part.definition} 用了不允许的写法：{rule}。这一项不得分。"
        for other in part.runs:
            definition = parts.PARTS[other].definition
            if definition in self._forbidden:
                return (f"这个实验运行你的 {definition}，而它用了不允许的写法（{self._forbidden[definition]}），"
                        f"实验结果不算你的，这一项不得分。")
        measurements = []
        for output in sent:
            try:
                measurements.append(parts.decode(output["data"][parts.MIME]))
            except ValueError as err:
                return f"这个单元格交给评分程序的测量结果无效（{err}），这一项不得分。"
        required = "hidden" if part.hidden else "visible"
        if any(m["grade_id"] != part.grade_id for m in measurements) or \
                len({m["cases"] for m in measurements}) != len(measurements):
            return "这个单元格交给评分程序的测量结果不是它自己的（多出或重复的结果），这一项不得分。"
        message = next((m for m in map(parts.judge, measurements) if m), None)
        if message is None and required not in {m["cases"] for m in measurements}:
            reason = (f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}" if errors
                      else "单元格没有把结果交给评分程序")
            message = f"{part.title}没有完成（{reason[:400]}）。"
        if message is None and errors:
            message = f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}"
        if message is not None and part.runs:
            failing = [parts.PARTS[r] for r in part.runs if self._verdicts.get(r) is False]
            if failing:
                names = "、".join(dict.fromkeys(p.definition for p in failing))
                message += f"（这个实验运行你的 {names}，它没有通过 {'、'.join(p.grade_id for p in failing)}：先改好它。）"
        return message


def _keepable(output: NotebookNode) -> NotebookNode | None:
    """A kernel output as the graded cell keeps it: nbgrader zeroes a cell on any stderr text or
    numeric result, so those become plain text; the verdict is the judge's alone."""
    kind = output.get("output_type")
    if kind == "stream" and output.get("name") == "stderr":
        return NotebookNode(output_type="stream", name="stdout", text=output.get("text", ""))
    if kind == "execute_result":
        return NotebookNode(output_type="display_data", data=output.get("data", {}), metadata={})
    return output
