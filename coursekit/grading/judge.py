"""The verdicts of a submission, formed in the grader's process, where no student code runs.

See README ("Where verdicts are formed"). The execute step (:mod:`coursekit.grading.execute`)
calls :meth:`Judge.review` before the kernel starts and :meth:`Judge.verdict` after every graded
cell has run.
"""

from __future__ import annotations

from nbformat import NotebookNode

from coursekit.grading.cells import NOTE_PREFIX, error_output, grade_id, is_answer, is_graded_test, is_trusted
from coursekit.lab.spec import DEFINITIONS


class Judge:
    """The verdicts of one submission, formed in the grader's process (no student code runs here).

    * :meth:`review` reads every code cell before anything runs (:mod:`coursekit.lab.review`):
      tampering anywhere fails every autograded part; a forbidden shortcut fails the parts of its
      definition and the experiments that run it.
    * :meth:`verdict` replaces a graded cell's outcome: the kernel's measurement
      (:data:`coursekit.lab.parts.MIME`) is taken out of the outputs and judged here; the cell passes
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
        from coursekit.lab import parts
        self._parts = parts

    @property
    def parts(self):
        self._loader.join()
        if self._parts is None:
            from coursekit.lab import parts  # the loader failed: import here to see the error
            self._parts = parts
        return self._parts

    # --- before anything runs -----------------------------------------------------------------
    def review(self, cells: list[NotebookNode]) -> list[str]:
        """Review every code cell; return the tampering found (empty when there is none)."""
        from coursekit.lab.review import by_definition, describe, graded_results, protected_names, review
        graded = [c.source for c in cells if is_graded_test(c)]
        protected = protected_names(graded, defined=DEFINITIONS)
        results = graded_results(graded, defined=DEFINITIONS)
        tampering: list[str] = []
        for cell in cells:
            if cell.cell_type != "code" or is_trusted(cell):
                continue
            gid = grade_id(cell) if is_answer(cell) else None
            findings = review(cell.source, todo=gid, protected=protected, answer=is_answer(cell), results=results)
            where = f"答案单元格 {gid}" if gid else "你添加的单元格"
            tampering += [f"{where} {f.describe()}" for f in findings if f.kind == "tampering"]
            forbidden = [f for f in findings if f.kind == "forbidden"]
            for name, found in by_definition(cell.source, forbidden).items():
                self._forbidden[name] = describe(found)
        return tampering

    # --- after a graded cell ran ----------------------------------------------------------------
    def verdict(self, cell: NotebookNode) -> None:
        parts = self.parts
        gid = grade_id(cell)
        part = parts.PARTS.get(gid)
        if part is None:
            return  # not an autograded part of this lab (nbgrader grades it from its outputs)
        sent = [o for o in cell.outputs if o.get("output_type") == "display_data" and parts.MIME in o.get("data", {})]
        kept = [_keepable(o) for o in cell.outputs if o not in sent]
        errors = [o for o in kept if o.get("output_type") == "error"]
        message = self._message(part, sent, errors)
        self._verdicts[gid] = message is None
        cell.outputs = kept
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


def _keepable(output: NotebookNode) -> NotebookNode:
    """A kernel output as the graded cell keeps it: nbgrader zeroes a cell on any stderr text or
    numeric result, so those become plain text; the verdict is the judge's alone."""
    kind = output.get("output_type")
    if kind == "stream" and output.get("name") == "stderr":
        return NotebookNode(output_type="stream", name="stdout", text=output.get("text", ""))
    if kind == "execute_result":
        return NotebookNode(output_type="display_data", data=output.get("data", {}), metadata={})
    return output
