"""Start JupyterLab for the course, configured from course.toml, with nbgrader's lab extensions.

    python -m coursekit.labserver                 # instructor/TA: the course folder, with formgrader
    python -m coursekit.labserver --port 8888     # a given port instead of a free one
    python -m coursekit.labserver --student DIR   # a student's folder: assignment list, validate, submit

JupyterLab listens on 127.0.0.1 only, with a token (printed, or taken from --token /
$COURSE_LAB_TOKEN). nbgrader's server extensions are switched on explicitly on the command line
(formgrader only for the instructor), so the course works even where `jupyter server extension
list` says otherwise.

Instructor mode runs in the course folder: nbgrader reads `nbgrader_config.py` there, which reads
course.toml, so formgrader uses the course's gradebook, exchange, folders and time limits.
Student mode writes `DIR/nbgrader_config.py` (course id, exchange folder and cell time limit from
course.toml) unless DIR has its own, and runs in DIR: the assignment list fetches into DIR and
submits from DIR, as `--student-id` or else the login name (nbgrader's exchange knows students by id).

`cmd_lab(config, args)` and `add_arguments(parser)` are the `lab` command of `coursekit`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import ENV_CONFIG, ENV_LAB_TOKEN, ENV_MIRROR, ConfigError, CourseConfig, load_config

HOST = "127.0.0.1"
ENV_TOKEN = ENV_LAB_TOKEN  # (coursekit.config.ENVIRONMENT)

#: nbgrader's server extensions (the wheel enables all of them; we say so explicitly), and for the
#: instructor also the course's grading by question (coursekit.handgrade) beside formgrader.
STUDENT_EXTENSIONS = ("nbgrader.server_extensions.assignment_list",
                      "nbgrader.server_extensions.validate_assignment",
                      "nbgrader.server_extensions.course_list")
INSTRUCTOR_EXTENSIONS = STUDENT_EXTENSIONS + ("nbgrader.server_extensions.formgrader", "coursekit.handgrade")

STUDENT_CONFIG_MARKER = "# written by coursekit.labserver from"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def student_nbgrader_config(config: CourseConfig, student_id: str | None = None) -> str:
    """The nbgrader_config.py of a student's folder: this course's id, exchange and cell time limit,
    and the student's id when given (else nbgrader uses the login name of the server's process)."""
    text = (f"{STUDENT_CONFIG_MARKER} {config.path}\n"
            "# A student's nbgrader settings: which course, where the exchange folder is, and how long\n"
            "# one cell may run when Validate runs the notebook (nbgrader's default, 30 s, is too short).\n"
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {config.course_id!r}\n"
            f"c.Exchange.root = {str(config.exchange_root)!r}\n"
            f"c.ExecutePreprocessor.timeout = {config.cell_timeout!r}\n")
    if student_id:
        text += f"c.CourseDirectory.student_id = {student_id!r}\n"
    return text


def write_student_config(config: CourseConfig, folder: Path, student_id: str | None = None) -> Path:
    """Write `folder/nbgrader_config.py` for a student of this course, unless the folder already has
    one that we did not write (a student's own file is never overwritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nbgrader_config.py"
    if path.exists() and not path.read_text(encoding="utf-8").startswith(STUDENT_CONFIG_MARKER):
        return path
    path.write_text(student_nbgrader_config(config, student_id), encoding="utf-8")
    return path


@dataclass
class LabLaunch:
    """Everything needed to start one JupyterLab server for the course."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    url: str
    port: int
    token: str

    def start(self, **popen_args) -> subprocess.Popen:
        return subprocess.Popen(self.command, cwd=self.cwd, env=self.env, **popen_args)


def lab_launch(config: CourseConfig, port: int = 0, token: str | None = None, student_dir: Path | None = None,
               env: dict[str, str] | None = None, student_id: str | None = None) -> LabLaunch:
    """The command, folder and environment of a JupyterLab server for the course.

    port 0 picks a free port; token None makes a random one. With `student_dir`, the server runs in
    that folder as a student's (no formgrader; `student_id` names the student in the exchange, default
    the login name); otherwise in the course folder as the instructor's.
    `env` (default: this process's environment) gets COURSE_TOML, the data mirror and this Python's
    bin folder on PATH, so kernels, validate and autograde all find the course and its data.
    """
    port = port or free_port()
    token = token or os.environ.get(ENV_TOKEN) or secrets.token_hex(24)
    if student_dir is not None:
        root = Path(student_dir).resolve()
        write_student_config(config, root, student_id)
        extensions = STUDENT_EXTENSIONS
        disabled = ("nbgrader.server_extensions.formgrader",)
    else:
        root = config.root
        extensions, disabled = INSTRUCTOR_EXTENSIONS, ()
    env = dict(os.environ if env is None else env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env[ENV_CONFIG] = str(config.path)
    if config.data_mirror is not None:
        env[ENV_MIRROR] = str(config.data_mirror)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser",
               f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={root}"]
    env["JUPYTER_TOKEN"] = token  # in the environment, not on the command line other users can list
    command += [f"--ServerApp.jpserver_extensions={name}=True" for name in extensions]
    command += [f"--ServerApp.jpserver_extensions={name}=False" for name in disabled]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # containers and CI run as root
    url = f"http://{HOST}:{port}/lab?token={token}"
    return LabLaunch(command=command, cwd=root, env=env, url=url, port=port, token=token)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--token", help=f"the access token (default: ${ENV_TOKEN}, else a random one)")
    parser.add_argument("--student", metavar="DIR", type=Path,
                        help="start in a student's folder DIR (assignment list, validate, submit; no formgrader)")
    parser.add_argument("--student-id", help="with --student: the student's id in the exchange (default: login name)")


def cmd_lab(config: CourseConfig, args: argparse.Namespace) -> None:
    """Run JupyterLab for the course until it stops (Ctrl-C)."""
    student = getattr(args, "student", None)
    launch = lab_launch(config, port=getattr(args, "port", 0) or 0, token=getattr(args, "token", None),
                        student_dir=student, student_id=getattr(args, "student_id", None))
    who = getattr(args, "student_id", None) or "the login name"
    role = f"student folder {launch.cwd} (student id: {who})" if student else \
        f"course folder {launch.cwd} (formgrader: Nbgrader → Formgrader)"
    print(f"[coursekit] JupyterLab for course '{config.course_id}' in the {role}", flush=True)
    print(f"[coursekit] open {launch.url}", flush=True)
    process = launch.start()
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.labserver",
                                     description="Start JupyterLab for the course (reads course.toml).")
    parser.add_argument("--config", help="path of course.toml (default: found upwards, or $COURSE_TOML)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"coursekit lab: {err}", file=sys.stderr)
        return 2
    cmd_lab(config, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
