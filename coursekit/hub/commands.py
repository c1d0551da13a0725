"""``python -m coursekit hub setup|start|stop|status``: the hub subcommands of the course's command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from coursekit.config import CourseConfig

ACTIONS = ("setup", "start", "stop", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="setup: users, course folder, exchange, Python, configuration; start/stop: the hub; "
                             "status: is it running")


def run(config: CourseConfig, args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """Raises coursekit.hub.HubError with the reason when an action cannot be done."""
    # Imported here: they import nbgrader (≈ 0.5 s), which every other command's parser would pay for.
    from coursekit.hub import deploy, process
    from coursekit.hub.hubconfig import layout, write_login_profile
    action = args.action
    if action == "setup":
        result = deploy.setup(config, say)
        for line in what_is_left(config, result.layout.password_file if result.password is not None else None):
            say(line)
    elif action == "start":
        deploy.hub_section(config)
        proxy = process.find_proxy(config)
        process.check_ports(config)
        accounts, lay = deploy.check_ready(config)
        deploy.write_files(config, lay, accounts, proxy)  # course.toml may have changed since setup
        write_login_profile(config, lay)
        hub = process.start(config, lay)
        say(f"JupyterHub for {config.course_id} runs at {hub.url} (pid {hub.pid}, log {hub.log}); "
            f"formgrader: {hub.url}/services/{config.course_id}/formgrader, the grader account's JupyterLab "
            f"(its terminal for the course's commands): {hub.url}/services/{config.course_id}/lab")
    elif action == "stop":
        deploy.hub_section(config)
        stopped = process.stop(layout(config))
        say("the hub stopped, with every server it started" if stopped else "the hub was not running")
    else:
        deploy.hub_section(config)
        pid = process.running_pid(layout(config))
        say(f"running at {process.hub_url(config)} (pid {pid})" if pid else "not running")


def released(config: CourseConfig) -> list[str]:
    """The course's assignments that are in the exchange for students to fetch."""
    outbound = config.exchange_root / config.course_id / "outbound"
    return [name for name in config.assignments if (outbound / name).is_dir()]


def what_is_left(config: CourseConfig, password_file: Path | None) -> list[str]:
    """After `hub setup`: the steps that remain before students can fetch an assignment, as commands to type."""
    from coursekit.hub.process import hub_command, hub_url
    url, course = hub_url(config), config.course_id
    out = released(config)
    waiting = [name for name in config.assignments if name not in out]
    lines = ["set up. What is left:",
             f"  1. start the hub (as root): {hub_command(config, 'start')}",
             f"  2. log in at {url} as the instructor ({config.hub.instructor}) and open {url}/services/{course}/lab, "
             f"the grader account's JupyterLab, in the course folder"]
    if waiting:
        lines += [f"  3. there, in a terminal (File > New > Terminal), build the student version and release "
                  f"{waiting[0]} (students see nothing until then):",
                  "       python -m coursekit build",
                  f"       nbgrader release_assignment {waiting[0]}"]
        if len(waiting) > 1:
            lines.append(f"     and so each assignment when it is handed out ({', '.join(waiting[1:])})")
    if out:
        lines.append(f"  released already: {', '.join(out)}")
    if password_file is not None:
        lines.append(f"everyone logs in with their id and the shared password in {password_file}")
    return lines
