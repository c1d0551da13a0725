"""``hub setup``: every check first, then every change, so a bad roster, a missing proxy or a course
folder students cannot reach leaves the machine as it was.

Checks: run as root; course.toml has [hub]; the roster's ids; no account clashes with a system
account or another role; configurable-http-proxy and node are installed; the course folder is
reachable and holds nothing root runs; the venv's interpreter can be given to the users.
Changes, in order: MNIST in the data root; the Unix users; the course folder handed to the grader
account; the exchange; the users' Python; each role's Jupyter settings, the login page, the login
shells' PATH (/etc/profile.d), the shared password and jupyterhub_config.py. Running it again is safe: existing users, the gradebook and submissions are
kept, the users' Python and the settings are rebuilt.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from coursekit.config import CourseConfig
from coursekit.hub import HubError
from coursekit.hub.accounts import Accounts, check_not_system, course_accounts, ensure_users, existing
from coursekit.hub.coursefolder import check_course_folder, prepare_course_folder
from coursekit.hub.exchange import prepare_exchange
from coursekit.hub.hubconfig import Layout, ensure_password, layout, make_state_dir, write_hub_config, \
    write_login_page, write_login_profile, write_role_settings
from coursekit.hub.process import find_proxy, hub_command
from coursekit.hub.roster import read_roster
from coursekit.hub.userenv import base_interpreter, build_user_env, check_patchelf, check_user_env, \
    place_interpreter

TOOLS = ("useradd", "userdel", "runuser")


@dataclass(frozen=True)
class Plan:
    """What the checks found: everything the changes need."""

    accounts: Accounts
    proxy: Path
    layout: Layout


@dataclass(frozen=True)
class SetupResult:
    accounts: Accounts
    created: tuple[str, ...]  # the Unix users made by this run
    layout: Layout
    password: str | None      # the shared password, when that authenticator is used


def hub_section(config: CourseConfig):
    if config.hub is None:
        raise HubError(f"{config.path} has no [hub] section: add one (see docs/admin.md, 'The course on JupyterHub').")
    return config.hub


def accounts_of(config: CourseConfig) -> Accounts:
    hub = hub_section(config)
    return course_accounts(config, read_roster(hub.roster))


def plan(config: CourseConfig) -> Plan:
    """Every check of `hub setup`; changes nothing."""
    hub_section(config)
    accounts = accounts_of(config)
    check_not_system(accounts.everyone)
    proxy = find_proxy(config)
    check_course_folder(config)
    check_patchelf(base_interpreter())
    if os.geteuid() != 0:
        raise HubError("hub setup creates Unix users and gives the course folder to the grader account: run it as root.")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise HubError(f"{', '.join(missing)} not found: hub setup needs the shadow utilities (Debian: passwd, util-linux).")
    return Plan(accounts=accounts, proxy=proxy, layout=layout(config))


def setup(config: CourseConfig, say: Callable[[str], None]) -> SetupResult:
    checked = plan(config)
    accounts, lay = checked.accounts, checked.layout
    say(f"checks passed: {len(accounts.students)} students, staff {', '.join(accounts.staff)}, "
        f"grader account {accounts.grader}, proxy {checked.proxy}")
    from coursekit.partkit.part import provision_data
    for line in provision_data(config):
        say(line)
    make_state_dir(lay)
    created = tuple(ensure_users(accounts.everyone))
    say(f"Unix users: {len(created)} created, {len(accounts.everyone) - len(created)} already there "
        f"(homes 0700)")
    prepare_course_folder(config, accounts.grader, accounts.students)
    say(f"course folder {config.root}: {accounts.grader}'s; source/, release/, submitted/, autograded/, feedback/ "
        f"and the gradebook private; {len(accounts.students)} students enrolled in the gradebook")
    prepare_exchange(config, accounts.grader)
    say(f"exchange {config.exchange_root}: 1777, course folders with nbgrader's modes")
    python = place_interpreter(lay.state_dir / "python")
    env = build_user_env(lay.env.prefix, python, course_packages=course_packages(config))
    check_user_env(env)
    say(f"users' Python: {env.prefix} (on {python}; checked as nobody)")
    write_role_settings(config, lay)
    say(f"terminals' PATH (login shells): {write_login_profile(config, lay)}")
    password = ensure_password(lay) if config.hub.authenticator == "shared-password" else None
    write_files(config, lay, accounts, checked.proxy)
    say(f"JupyterHub configuration: {lay.config_file}")
    return SetupResult(accounts=accounts, created=created, layout=lay, password=password)


def write_files(config: CourseConfig, lay: Layout, accounts: Accounts, proxy: Path) -> None:
    """What `setup` and `start` both write from course.toml: the login page and jupyterhub_config.py."""
    write_login_page(config, lay)
    write_hub_config(config, lay, accounts, proxy)


def check_ready(config: CourseConfig) -> tuple[Accounts, Layout]:
    """Before `hub start`: setup has run for every account course.toml names now."""
    accounts = accounts_of(config)
    lay = layout(config)
    if not lay.config_file.exists() or not lay.env.python.exists():
        raise HubError(f"the hub is not set up ({lay.config_file} missing): run `{hub_command(config, 'setup')}` first.")
    missing = [name for name in accounts.everyone if existing(name) is None]
    if missing:
        raise HubError(f"no Unix user for {', '.join(missing)} (the roster or course.toml changed): run "
                       f"`{hub_command(config, 'setup')}` again.")
    return accounts, lay


def course_packages(config: CourseConfig) -> tuple[Path, ...]:
    """The folders of the course's own packages: those its assignments' parts are in."""
    from coursekit.partkit.part import declared_paths
    folders = {Path(folder) for name in config.assignments if config.assignment(name).parts
               for folder in declared_paths(config.assignment(name).parts)[0]}
    return tuple(sorted(folders))
