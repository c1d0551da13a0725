"""``python -m coursekit hub setup|start|stop|status``: the hub subcommands of the course's command line."""

from __future__ import annotations

import argparse
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
    from coursekit.hub.hubconfig import layout, write_hub_config
    action = args.action
    if action == "setup":
        result = deploy.setup(config, say)
        say(f"set up: `python -m coursekit hub start` serves it at {process.hub_url(config)}")
        if result.password is not None:
            say(f"everyone logs in with their id and the shared password in {result.layout.password_file}")
    elif action == "start":
        deploy.hub_section(config)
        proxy = process.find_proxy(config)
        process.check_ports(config)
        accounts, lay = deploy.check_ready(config)
        write_hub_config(config, lay, accounts, proxy)  # course.toml may have changed since setup
        hub = process.start(config, lay)
        say(f"JupyterHub for {config.course_id} runs at {hub.url} (pid {hub.pid}, log {hub.log}); "
            f"formgrader: {hub.url}/services/{config.course_id}/formgrader")
    elif action == "stop":
        deploy.hub_section(config)
        stopped = process.stop(layout(config))
        say("the hub stopped, with every server it started" if stopped else "the hub was not running")
    else:
        deploy.hub_section(config)
        pid = process.running_pid(layout(config))
        say(f"running at {process.hub_url(config)} (pid {pid})" if pid else "not running")
