"""`python -m coursekit` (or `coursekit`): the course's command line.

    setup-data            provision MNIST into the data root (from the mirror when one is set)
    build [ASSIGNMENT]    regenerate release/ from source/ with nbgrader
    samples [ASSIGNMENT]  write the sample submissions into submitted/
    grade [ASSIGNMENT] [--student ID ...] [--workers N] [--scheduler ADDR] [--force]
                          autograde the class with nbgrader: parallel (or on Dask), sandboxed,
                          resumable; a summary table at the end
    autograde [ASSIGNMENT] the same as grade (kept for the demo and muscle memory)
    serve [ASSIGNMENT] [--workers N | --scheduler ADDR]
                          the grading service: every submission graded when it reaches the exchange,
                          its feedback released at once (course.toml [service]; stop with SIGTERM)
    feedback [ASSIGNMENT] nbgrader generate_feedback
    grades [ASSIGNMENT]   print the grade table from the gradebook
    export [ASSIGNMENT]   grades.csv, one row per student (nbgrader export)
    report [ASSIGNMENT]   the class report: reports/ASSIGNMENT/index.html and a text summary
    similarity [ASSIGNMENT] which answers look copied: reports/ASSIGNMENT/similarity.html (instructors
                          only; linked from the class report) and a text summary
    lab [--student DIR]   JupyterLab with nbgrader's extensions for the course (localhost, token)
    hub setup|start|stop|status  the course on a JupyterHub on this machine for course.toml's [hub]
                          roster, instructor and TAs (root; real Unix users; coursekit/hub/)
    demo                  all of the above, in order, for the sample submissions

Every command reads course.toml (found upwards from the working directory, or $COURSE_TOML)
and prints what it does. nbgrader itself runs in the course folder, so it reads the same
settings through nbgrader_config.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys

from coursekit.config import (ENV_CONFIG, ENV_MIRROR, ConfigError, CourseConfig, DataError, ProfileError,
                              load_config)
from coursekit.grading.quickstart import defer_iri_grammars, nbgrader_command, use_this_environment


class CommandError(Exception):
    """A step failed; the message says which and what to do."""


def say(message: str) -> None:
    print(f"[coursekit] {message}", flush=True)


def run_nbgrader(config: CourseConfig, *args: str, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in the course folder (so it loads nbgrader_config.py there)."""
    command = [*nbgrader_command(), *args]
    result = subprocess.run(command, cwd=config.root, text=True, capture_output=quiet)
    if result.returncode != 0:
        detail = (result.stderr or "")[-3000:] if quiet else ""
        raise CommandError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}).\n{detail}")
    return result


def default_assignment(config: CourseConfig, name: str | None) -> str:
    if name:
        config.assignment(name)  # raises a clear error for an unknown name
        return name
    return next(iter(config.assignments))


# --- commands --------------------------------------------------------------------------------

def cmd_setup_data(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.partkit.part import provision_data
    say(f"the assignments' data into {config.data_root}")
    for line in provision_data(config):
        say(line)


def cmd_build(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.authoring.release import build_release
    for name in [default_assignment(config, args.assignment)] if args.assignment else list(config.assignments):
        say(f"release/{name} from source/{name} (nbgrader generate_assignment)")
        build_release(config, name, run_nbgrader)
        say(f"release/{name} regenerated")


def cmd_samples(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.authoring.samples import write_samples
    from coursekit.partkit.part import declared, resolve
    name = default_assignment(config, args.assignment)
    assignment = config.assignment(name)
    release = config.directory("release") / name / assignment.notebook
    if not release.is_file():
        raise CommandError(f"{release} does not exist: run `python -m coursekit build` first.")
    reference = declared(assignment.parts, "samples", "") if assignment.parts else ""
    if not reference:
        raise CommandError(f"assignment '{name}' declares no sample submissions (Assignment.samples)")
    samples = resolve(reference)
    written = write_samples(release, config.directory("source") / name / assignment.notebook,
                            config.directory("submitted"), name, timestamp=_timestamp_before(assignment.due),
                            samples=samples)
    for sample, path in zip(samples, written):
        say(f"sample '{sample.student}': {sample.description} -> {path.relative_to(config.root)}")


def _timestamp_before(due: dt.datetime) -> str:
    """An nbgrader timestamp one day before the due date (the samples are on time)."""
    moment = (due - dt.timedelta(days=1)).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def cmd_grade(config: CourseConfig, args: argparse.Namespace) -> None:
    """Grade every collected submission (coursekit.grading.classgrade runs the class; this prints)."""
    from coursekit.grading import classgrade
    name = default_assignment(config, args.assignment)
    options = classgrade.RunOptions(students=tuple(args.student or ()), workers=getattr(args, "workers", None),
                                    scheduler=getattr(args, "scheduler", None), force=getattr(args, "force", False))
    bar = None

    def progress(line: str, done: int, total: int) -> None:
        nonlocal bar
        from tqdm import tqdm
        if bar is None:
            say(line)
            bar = tqdm(total=total, desc="grade", unit="student", disable=total == 0)  # nothing to count
        else:
            bar.update(1)
            tqdm.write(f"[coursekit] {line}")
        if done == total:
            bar.close()

    try:
        result = classgrade.grade_class(config, name, options, progress)
    except classgrade.GradingError as err:
        raise CommandError(str(err)) from None
    print(result.table())
    failures = result.failures
    if failures:
        graded = len(result.outcomes) - len(failures)
        raise CommandError(f"could not autograde {len(failures)} of {len(result.outcomes)} submission(s): "
                           f"{', '.join(sorted(failures))} ({graded} graded)")


def cmd_serve(config: CourseConfig, args: argparse.Namespace) -> None:
    """Grade every submission when it reaches the exchange and release its feedback (coursekit.service)."""
    import contextlib
    import signal
    import threading

    from coursekit.grading import classgrade
    from coursekit.service.server import GradingService

    name = default_assignment(config, args.assignment)
    scheduler = getattr(args, "scheduler", None) or config.dask_scheduler
    workers = getattr(args, "workers", None) or config.workers
    if scheduler and getattr(args, "workers", None):
        raise CommandError("--workers is for grading on this machine; on a Dask cluster the service grades as "
                           "many submissions at once as the cluster's workers have threads (leave --workers out)")
    try:
        classgrade.ready_to_grade(config, name)
    except classgrade.GradingError as err:
        raise CommandError(str(err)) from None
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    sv = config.service
    say(f"grading service for '{name}': feedback before the due date = {sv.before_deadline}, counts = {sv.counts}, "
        f"at most {sv.per_student_per_hour} graded per student per hour and {sv.per_student_total} in all; "
        + ("in the bubblewrap sandbox" if config.sandbox.enabled else "WITHOUT a sandbox"))
    with contextlib.ExitStack() as run:
        try:  # no `coursekit grade` on the same folders meanwhile
            run.enter_context(classgrade.class_lock(config))
        except classgrade.GradingError as err:
            raise CommandError(f"{err} (`coursekit serve` grades this course's submissions: one of it, and no "
                               f"`coursekit grade`, at a time)") from None
        try:  # the executor `coursekit grade` would use
            if scheduler:  # a Dask worker's kernels start by themselves (no zygote of this machine there)
                zygote = ""
                executor = run.enter_context(classgrade.DaskCluster(scheduler))
                say(f"the Dask scheduler at {scheduler} has {executor.capacity()} worker thread(s) now")
            else:  # every kernel forked from one zygote
                zygote = run.enter_context(classgrade.kernel_zygote(config, classgrade.grading_threads(config)))
                executor = run.enter_context(classgrade.LocalWorkers(workers))
        except classgrade.GradingError as err:
            raise CommandError(str(err)) from None
        GradingService(config, name, executor, zygote=zygote).serve(stop)


def cmd_feedback(config: CourseConfig, args: argparse.Namespace) -> None:
    name = default_assignment(config, args.assignment)
    _late_policy(config, name)
    say(f"feedback HTML for '{name}' (nbgrader generate_feedback)")
    run_nbgrader(config, "generate_feedback", name, "--force", quiet=True)
    from coursekit.grading.feedback import write_failure_feedback
    from coursekit.grading.report import read_grading_failures
    notebook = config.assignment(name).notebook
    for student, reason in sorted(read_grading_failures(config, name).items()):
        folder = config.directory("feedback") / student / name
        if not (folder / notebook.replace(".ipynb", ".html")).is_file():
            write_failure_feedback(folder, name, notebook, reason)
            say(f"{student}: could not be graded; feedback page with the reason written")
    say(f"feedback written under {config.directory('feedback')}/<student>/{name}/")


def _late_policy(config: CourseConfig, name: str) -> None:
    from coursekit.grading.latework import apply_late_policy
    for student in apply_late_policy(config, name):
        say(f"{student}: late, and course.toml says late work scores 0: hand grades zeroed too")


def cmd_export(config: CourseConfig, args: argparse.Namespace) -> None:
    name = default_assignment(config, args.assignment)
    _late_policy(config, name)
    target = config.root / "grades.csv"
    say(f"every student's scores to {target.name} (nbgrader export)")
    run_nbgrader(config, "export", f"--to={target}", quiet=True)
    say(f"{target} written")


def cmd_grades(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.grading.gradetable import grade_table
    name = default_assignment(config, args.assignment)
    _late_policy(config, name)
    print(grade_table(config, name))


def cmd_report(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.grading.report import collect_report, text_table, write_report
    name = default_assignment(config, args.assignment)
    _late_policy(config, name)
    report = collect_report(config, name)
    page = write_report(report, config.root / "reports" / name)
    print(text_table(report))
    say(f"class report: {page}")


def cmd_similarity(config: CourseConfig, args: argparse.Namespace) -> None:
    """Compare the answer cells of every submission (coursekit.grading.similarity); instructor's folder only."""
    from coursekit.grading import similarity
    name = default_assignment(config, args.assignment)
    notebook = config.assignment(name).notebook
    try:
        result = similarity.compare_class(name, config.directory("release") / name / notebook,
                                          config.directory("source") / name / notebook,
                                          config.directory("submitted"), notebook, config.similarity,
                                          root=config.root)
    except similarity.SimilarityError as err:
        raise CommandError(str(err)) from None
    page = similarity.write_html(result, similarity.report_path(config.root / "reports", name))
    print(similarity.text_summary(result))
    say(f"similarity report: {page} (the class report links it: `python -m coursekit report {name}`)")


def cmd_lab(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.labserver import cmd_lab as start_lab
    start_lab(config, args)


def cmd_hub(config: CourseConfig, args: argparse.Namespace) -> None:
    from coursekit.hub import HubError
    from coursekit.hub.commands import run
    try:
        run(config, args, say)
    except HubError as err:
        raise CommandError(str(err)) from None


def cmd_demo(config: CourseConfig, args: argparse.Namespace) -> None:
    for step in (cmd_setup_data, cmd_build, cmd_samples, cmd_grade, cmd_feedback, cmd_grades, cmd_report):
        step(config, argparse.Namespace(assignment=None, student=None, workers=None, scheduler=None, force=False))


COMMANDS = {
    "setup-data": (cmd_setup_data, "provision MNIST into the data root"),
    "build": (cmd_build, "regenerate release/ from source/ with nbgrader"),
    "samples": (cmd_samples, "write the sample submissions into submitted/"),
    "grade": (cmd_grade, "autograde the class with nbgrader: parallel, sandboxed, resumable"),
    "autograde": (cmd_grade, "the same as grade"),
    "serve": (cmd_serve, "grade each submission when it arrives in the exchange and release its feedback"),
    "feedback": (cmd_feedback, "generate feedback HTML with nbgrader"),
    "grades": (cmd_grades, "print the grade table"),
    "export": (cmd_export, "write grades.csv, one row per student (nbgrader export)"),
    "report": (cmd_report, "write the class report (HTML with figures) and print its summary"),
    "similarity": (cmd_similarity, "compare the answer cells across submissions (copydetect); instructors only"),
    "lab": (cmd_lab, "start JupyterLab for the course (127.0.0.1, a token; --student DIR for a student's folder)"),
    "hub": (cmd_hub, "the course on a JupyterHub on this machine: setup, start, stop, status ([hub] in course.toml)"),
    "demo": (cmd_demo, "setup-data, build, samples, autograde, feedback, grades, report"),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="coursekit", description="Lab 2 course tools (reads course.toml).")
    top.add_argument("--config", help="path of course.toml (default: found upwards, or $COURSE_TOML)")
    sub = top.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name not in ("setup-data", "demo", "lab", "hub"):
            command.add_argument("assignment", nargs="?", help="assignment name (default: the first in course.toml)")
        if name == "serve":
            command.add_argument("--workers", type=int, help="submissions graded at once (default: course.toml)")
            command.add_argument("--scheduler", help="grade on this Dask scheduler (default: course.toml)")
        if name in ("grade", "autograde"):
            command.add_argument("--student", action="append", help="grade only this student (repeatable)")
            command.add_argument("--workers", type=int, help="parallel nbgrader processes (default: course.toml)")
            command.add_argument("--scheduler", help="grade on this Dask scheduler (default: course.toml)")
            command.add_argument("--force", action="store_true", help="regrade submissions already graded")
        if name == "lab":
            from coursekit.labserver import add_arguments
            add_arguments(command)
        if name == "hub":
            from coursekit.hub.commands import add_arguments as add_hub_arguments
            add_hub_arguments(command)
    return top


def main(argv: list[str] | None = None) -> int:
    defer_iri_grammars()  # before anything imports nbformat: ≈ 2 s sooner (coursekit.grading.quickstart)
    args = parser().parse_args(argv)
    use_this_environment()
    try:
        config = load_config(args.config)
        # Children (nbgrader, its kernels) run in other folders: give them absolute paths.
        if args.config:
            os.environ[ENV_CONFIG] = str(config.path)
        if config.data_mirror is not None:
            os.environ[ENV_MIRROR] = str(config.data_mirror)  # nbgrader and kernels see the same file
        if args.command != "setup-data":
            from coursekit.grading.nbgrader_settings import check_database_driver
            check_database_driver(config)
        COMMANDS[args.command][0](config, args)
    except (ConfigError, CommandError, DataError, ProfileError) as err:
        print(f"coursekit {args.command}: {err}", file=sys.stderr)
        return 2
    return 0
