"""The verdicts of a submission, formed in the grader's process from measurements it makes itself.

See docs/design.md ("Where verdicts are formed"). The execute step (:mod:`coursekit.grading.execute`) calls
:meth:`Judge.review` and :meth:`Judge.start` before the kernel runs anything, and :meth:`Judge.grade`
in place of running each graded cell.
"""

from __future__ import annotations

import ast
from pathlib import Path

from nbformat import NotebookNode

from coursekit.grading.cells import NOTE_PREFIX, error_output, grade_id, is_answer, is_trusted
from coursekit.partkit.part import Assignment, Context, Experiment, ExperimentFailed


#: The grader's folder (in the course folder) for experiment runs that are the course's alone: the
#: same for every submission, made once (coursekit.partkit.part.Context.cached).
CACHE_FOLDER = ".grading-cache"


class GraderError(RuntimeError):
    """The grader itself failed on a part (a bug of its judge or measure, not the student's answer):
    the submission is reported as not graded, with this reason, never scored."""


def assignment_parts(config, name: str | None) -> Assignment | None:
    """The assignment's parts as course.toml names them (``[assignments.<name>] parts``), with the
    settings it overrides (``[assignments.<name>.settings.<grade id>]``), else None: an assignment without
    parts is graded by its test cells, as plain nbgrader does."""
    from coursekit.partkit.part import load_assignment
    from coursekit.partkit.settings import from_config
    if not name or name not in config.assignments:
        return None
    reference = getattr(config.assignment(name), "parts", "")
    return from_config(load_assignment(reference), config) if reference else None

class Judge:
    """The verdicts of one submission (docs/design.md, "Where verdicts are formed").

    The graded cells do not run in the kernel. For each one the judge calls the student's functions in
    a worker that has run only the course's setup cell and the part's answer cells
    (the assignment's worker groups, :class:`coursekit.partkit.part.WorkerGroup`), on cases drawn from
    the grader's secret, and runs the experiments here with those functions as proxies
    (:meth:`coursekit.partkit.part.Experiment.run`). Before that, :meth:`review` reads every answer cell
    (:mod:`coursekit.partkit.review`): a broken rule fails the parts of its TODO and the experiments that
    run them, nothing else. The judge knows the assignment only through its :class:`Assignment`.
    """

    def __init__(self, assignment: Assignment | None, config=None) -> None:
        self.assignment = assignment
        self._config = config
        self._parts = assignment.by_id if assignment is not None else {}
        self._forbidden: dict[str, str] = {}       # definition -> what breaks its rules
        self._reaching: dict[str, str] = {}        # definition -> how its cell reaches past its own objects
        self._verdicts: dict[str, bool] = {}       # grade_id -> passed, in notebook order
        self._workers = None                       # coursekit.grading.workers.Workers

    # --- before anything runs -----------------------------------------------------------------
    def review(self, cells: list[NotebookNode]) -> None:
        """Review every answer cell for its TODO's rules (cells a student added are not run: not read)."""
        from coursekit.partkit.review import rules_broken
        from coursekit.partkit.rules import protected_packages
        if self.assignment is None:
            return
        for cell in cells:
            if cell.cell_type != "code" or not is_answer(cell):
                continue
            gid = grade_id(cell)
            forbidden, reaching = rules_broken(cell.source, self.assignment.rules.get(gid),
                                               self.assignment.definitions(gid), protected_packages(self.assignment))
            self._forbidden.update(forbidden)
            self._reaching.update(reaching)

    def start(self, cells: list[NotebookNode], sandbox: dict | None, course_dir, cell_timeout: float = 0) -> None:
        """Get ready to measure: the cells the workers will run, and the grader's secret."""
        from coursekit.grading.secret import grading_secret
        from coursekit.grading.workers import Workers
        self._cells = cells
        self._answers = {grade_id(c): c.source for c in cells if is_answer(c) and c.cell_type == "code"}
        self._setup = next((c.source for c in cells if grade_id(c) == "setup"), "")
        self._added = [c.source for c in cells if c.cell_type == "code" and not is_trusted(c) and not is_answer(c)]
        self._workers = Workers(sandbox, cell_timeout)
        self._secret = grading_secret(course_dir)
        self._cache = Path(course_dir) / CACHE_FOLDER
        self._context = None
        self._sandboxed = sandbox is not None
        self._limits = {"cell_timeout": cell_timeout,
                        "sandbox": {k: v for k, v in (sandbox or {}).items() if k in _LIMIT_KEYS}}
        from coursekit.grading.reuse import FOLDER, ExperimentStore
        folder = getattr(self._config, "experiment_store", None) or self._cache / FOLDER
        self._kept = ExperimentStore(folder if getattr(self._config, "reuse_experiments", True) else None)
        if self.assignment is None:
            return
        # Every group's worker starts now, each in a thread of its own: their cells run while the kernel
        # runs the notebook's (a cell that loops until the time limit costs it once, not once per group).
        from concurrent.futures import ThreadPoolExecutor
        groups = self.assignment.groups
        self._pool = ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="coursekit-worker")
        self._starting = {group: self._pool.submit(self._start_worker, group) for group in groups}

    def close(self) -> None:
        if self._workers is not None:
            if self.assignment is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._workers.close()

    def handles(self, cell: NotebookNode) -> bool:
        return grade_id(cell) in self._parts

    def _start_worker(self, group: str):
        """The group's worker (or why it is missing): the setup cell, course code, the group's answers."""
        from coursekit.grading.workers import WorkerGone
        try:
            return self._workers.start(group, self._group_cells(group), ops=self.assignment.worker_ops)
        except WorkerGone as gone:
            return str(gone)

    def _group_cells(self, group: str) -> list[tuple[str, str]]:
        """What the group's worker runs: the setup cell, the course's reference code, the group's answers."""
        spec = self.assignment.groups[group]
        cells = [("setup", self._setup)]
        if spec.reference:
            cells.append(("reference", spec.reference))
        return cells + [(name, self._answers.get(name, "")) for name in spec.answers]

    def _worker(self, group: str):
        return self._starting[group].result()

    def grade(self, cell: NotebookNode) -> None:
        """Form the graded cell's outputs: the experiment's figure and lines, then the verdict."""
        from coursekit.grading.workers import WorkerGone
        gid = grade_id(cell)
        part = self._parts[gid]
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
        from coursekit.partkit.rules import rule_message
        if not part.runs:
            broken = rule_message(part, self._forbidden, self._reaching)
            if broken:
                return broken
        for other in part.runs:
            definition = self._parts[other].definition
            rule = self._reaching.get(definition) or self._forbidden.get(definition)
            if rule:
                return (f"这个实验运行你的 {definition}，而它用了不允许的写法（{rule}），"
                        f"实验结果不算你的，这一项不得分。")
        worker = self._worker(part.worker)
        if isinstance(worker, str):
            return f"{part.title}没有评完：{worker}。"
        if isinstance(part, Experiment):
            try:
                data = self._experiment(part, worker, outputs)
            except ExperimentFailed as failed:
                return self._explained(worker, self._hinted(part, str(failed)), part)
        else:
            data = self._grader_step(part, "measure", part.measure, worker, "hidden", self._secret)
        message = self._grader_step(part, "judge", _judged, part, data, self._secret)
        return None if message is None else self._explained(worker, self._hinted(part, message), part)

    def _experiment(self, part: Experiment, worker, outputs: list[NotebookNode]):
        """The experiment's measurement (its figure added to ``outputs``): run with the student's functions,
        or read back when exactly the same code ran it before (coursekit.grading.reuse). A run that cannot
        go on with the student's functions raises ExperimentFailed and is not kept."""
        from coursekit.grading.reuse import experiment_key
        context = self._experiment_context()
        key = experiment_key(part, self._group_cells(part.worker), ops=self.assignment.worker_ops,
                             secret=self._secret, profile=context.profile, limits=self._limits,
                             sandboxed=self._sandboxed)
        kept = self._kept.load(part, key)
        if kept is not None:
            outputs += [NotebookNode(output) for output in kept[0]]
            return kept[1]
        result = part.run(worker, context)
        figure = _experiment_outputs(part, result)
        data = self._grader_step(part, "measurement", part.measurement, result)
        self._kept.save(part, key, [dict(output) for output in figure], data)
        outputs += figure
        return data

    @staticmethod
    def _grader_step(part, step: str, function, *args):
        """One step of the grader's own code on a part: any exception but a lost worker is its bug."""
        from coursekit.grading.workers import WorkerGone
        try:
            return function(*args)
        except (WorkerGone, ExperimentFailed):
            raise
        except Exception as err:  # noqa: BLE001 -- a bug of the course's part code, reported as such
            raise GraderError(f"{part.grade_id} 的 {step} 出错（评分程序的问题，不是你的答案的问题）："
                              f"{type(err).__name__}: {err}"[:400]) from err

    def _hinted(self, part, message: str) -> str:
        """A failed experiment names the parts it runs that failed too: the place to look first."""
        failing = [self._parts[r] for r in part.runs if self._verdicts.get(r) is False]
        if not failing:
            return message
        names = "、".join(dict.fromkeys(p.definition for p in failing))
        return message + f"（这个实验运行你的 {names}，它没有通过 {'、'.join(p.grade_id for p in failing)}：先改好它。）"

    def _explained(self, worker, message: str, part=None) -> str:
        """Say why a name is missing when the student defined it where grading does not run it."""
        import re

        from coursekit.partkit.review import bound_names, python_source
        from coursekit.partkit.rules import defined_elsewhere_message
        broken = [c for c in worker.cells if c.get("error")]
        if broken and broken[0]["name"] in self._answers:
            message += f"（评分时答案单元格 {broken[0]['name']} 运行出错：{broken[0]['error'][:200]}）"
        found = re.search(r"NameError: name '(\w+)' is not defined", message)
        if found and part is not None:
            name = found.group(1)
            elsewhere = [*self._added, *(src for gid, src in self._answers.items() if gid != part.todo)]
            for source in elsewhere:
                try:
                    tree = ast.parse(python_source(source))
                except SyntaxError:
                    continue
                if name in bound_names(tree):
                    return f"{message} {defined_elsewhere_message(name, part.todo)}"
        return message

    def _experiment_context(self) -> Context:
        if self._context is None:
            from coursekit.config import load_config
            config = self._config or load_config()
            self._context = Context(profile=config.profiles["grading"], config=config, secret=self._secret,
                                    cache=self._cache)
        return self._context


#: The sandbox settings that can change what a run gives (a time or memory limit), in the key of a kept run.
_LIMIT_KEYS = ("memory_mb", "max_processes", "max_file_mb", "tmp_mb")


def _judged(part, data, secret) -> str | None:
    from coursekit.partkit.local import judged
    return judged(part, data, "hidden", secret)


def _experiment_outputs(part: Experiment, result) -> list[NotebookNode]:
    """The experiment's figure as the notebook draws it, from the grader's own run."""
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure = Judge._grader_step(part, "figure", part.figure, result)
    if figure is None:
        return []
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(figure)
    return [NotebookNode(output_type="display_data", metadata={},
                         data={"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                               "text/plain": "<评分程序运行这个实验得到的图>"})]
