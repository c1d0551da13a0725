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
        self._workers = None                       # coursekit.grading.workers.Workers, when the judge measures
        self._started: dict[str, object] = {}      # worker group -> Worker (or the reason it is missing)
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


class WorkerJudge(Judge):
    """The verdicts formed from the grader's own measurements (README, "Where verdicts are formed").

    The graded cells do not run in the kernel. For each one the judge calls the student's functions in
    a worker that has run only the course's setup cell and the part's answer cells
    (:data:`coursekit.lab.spec.WORKERS`), on cases drawn from the grader's secret, and runs the
    experiments here with those functions as proxies (:mod:`coursekit.grading.measure`).
    """

    def start(self, cells: list[NotebookNode], sandbox: dict | None, course_dir) -> None:
        from coursekit.grading.secret import grading_secret
        from coursekit.grading.workers import Workers
        self._cells = cells
        self._answers = {grade_id(c): c.source for c in cells if is_answer(c) and c.cell_type == "code"}
        self._setup = next((c.source for c in cells if grade_id(c) == "setup"), "")
        self._added = [c.source for c in cells if c.cell_type == "code" and not is_trusted(c) and not is_answer(c)]
        self._workers = Workers(sandbox)
        self._secret = grading_secret(course_dir)
        self._profile = None
        self._data = None

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()

    def handles(self, cell: NotebookNode) -> bool:
        return grade_id(cell) in self.parts.PARTS

    def _worker(self, group: str):
        from coursekit.grading.workers import WorkerGone
        from coursekit.lab.spec import WORKERS
        if group not in self._started:
            spec = WORKERS[group]
            cells = [("setup", self._setup)]
            if spec.reference:
                cells.append(("reference", spec.reference))
            cells += [(name, self._answers.get(name, "")) for name in spec.answers]
            try:
                self._started[group] = self._workers.start(group, cells)
            except WorkerGone as gone:
                self._started[group] = str(gone)
        return self._started[group]

    def grade(self, cell: NotebookNode) -> None:
        """Form the graded cell's outputs: the experiment's figure and lines, then the verdict."""
        from coursekit.grading.workers import WorkerGone
        parts = self.parts
        gid = grade_id(cell)
        part = parts.PARTS[gid]
        outputs: list[NotebookNode] = []
        try:
            message = self._measured(part, outputs)
        except WorkerGone as gone:
            message = f"{part.title}没有评完：{gone}。"
        self._verdicts[gid] = message is None
        cell.outputs = outputs
        if message is None:
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=f"{NOTE_PREFIX} {part.title}：通过。\n"))
        else:
            outputs.append(error_output("CheckFailed", message))

    def _measured(self, part, outputs: list[NotebookNode]) -> str | None:
        from coursekit.grading import measure
        from coursekit.lab.spec import worker_of
        parts = self.parts
        rule = self._forbidden.get(part.definition) if not part.runs else None
        if rule:
            return f"{part.definition} 用了不允许的写法：{rule}。这一项不得分。"
        for other in part.runs:
            definition = parts.PARTS[other].definition
            if definition in self._forbidden:
                return (f"这个实验运行你的 {definition}，而它用了不允许的写法（{self._forbidden[definition]}），"
                        f"实验结果不算你的，这一项不得分。")
        failing = [parts.PARTS[r] for r in part.runs if self._verdicts.get(r) is False]
        if failing:
            names = "、".join(dict.fromkeys(p.definition for p in failing))
            return (f"这个实验运行你的 {names}，它没有通过 {'、'.join(p.grade_id for p in failing)}："
                    f"先改好它，实验才会运行。")
        worker = self._worker(worker_of(part))
        if isinstance(worker, str):
            return f"{part.title}没有评完：{worker}。"
        if part.runs:
            try:
                result = measure.run_experiment(part.grade_id, worker, self._grading_profile(), self._mnist(),
                                                self._secret)
            except measure.ExperimentFailed as failed:
                return self._explained(worker, str(failed))
            outputs += _experiment_outputs(part.kind, result)
            measurement = measure.experiment_measurement(part.grade_id, result)
        else:
            measurement = measure.measure(worker, part.grade_id, self._secret)
        message = parts.judge(measurement, self._secret)
        return None if message is None else self._explained(worker, message)

    def _explained(self, worker, message: str) -> str:
        """Say why a name is missing when the student defined it where grading does not run it."""
        import ast
        import re
        broken = [c for c in worker.cells if c.get("error")]
        if broken and broken[0]["name"] in self._answers:
            message += f"（评分时答案单元格 {broken[0]['name']} 运行出错：{broken[0]['error'][:200]}）"
        found = re.search(r"NameError: name '(\w+)' is not defined", message)
        if found:
            name = found.group(1)
            for source in self._added:
                try:
                    tree = ast.parse(source)
                except SyntaxError:
                    continue
                defined = {getattr(n, "name", None) for n in ast.walk(tree)} | \
                    {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
                if name in defined:
                    return (message + f" {name} 定义在你自己添加的单元格里，评分时不运行那些单元格："
                            f"把 {name} 的定义移到用到它的答案单元格里。")
        return message

    def _grading_profile(self):
        if self._profile is None:
            from coursekit.config import load_config
            self._config = load_config()
            self._profile = self._config.profiles["grading"]
        return self._profile

    def _mnist(self):
        if self._data is None:
            from coursekit.lab.data import load_mnist
            self._grading_profile()
            root = self._config.data_root
            self._data = (load_mnist(train=True, root=root), load_mnist(train=False, root=root))
        return self._data


def _experiment_outputs(kind: str, result) -> list[NotebookNode]:
    """The experiment's figure as the notebook draws it, from the grader's own run."""
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from coursekit.lab import plotting
    draw = {"vanishing": plotting.plot_vanishing, "death": plotting.plot_relu_death,
            "weight_decay": lambda r: plotting.plot_weight_decay(list(r.values()), true_w=0.01),
            "dropout_experiment": lambda r: plotting.plot_dropout(
                {f"dropout_layer {p1:g}/{p2:g}": h for (p1, p2), h in r.items()})}[kind]
    figure = draw(result)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(figure)
    return [NotebookNode(output_type="display_data", metadata={},
                         data={"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                               "text/plain": "<评分程序运行这个实验得到的图>"})]


def _keepable(output: NotebookNode) -> NotebookNode:
    """A kernel output as the graded cell keeps it: nbgrader zeroes a cell on any stderr text or
    numeric result, so those become plain text; the verdict is the judge's alone."""
    kind = output.get("output_type")
    if kind == "stream" and output.get("name") == "stderr":
        return NotebookNode(output_type="stream", name="stdout", text=output.get("text", ""))
    if kind == "execute_result":
        return NotebookNode(output_type="display_data", data=output.get("data", {}), metadata={})
    return output
