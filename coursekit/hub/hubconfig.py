"""The files that make the hub: jupyterhub_config.py and each role's Jupyter settings, all from course.toml.

Layout of ``[hub] state_dir`` (root's; the hub runs as root so that it can start each user's server
as that user):

* ``jupyterhub_config.py`` (0600), written by ``hub setup`` and again by ``hub start``;
* ``private/`` (0700): the hub's database and cookie secret, the shared password, its log and pid;
* ``env/``: the Python every user runs (:mod:`coursekit.hub.userenv`);
* ``templates/login.html``: the hub's login page, naming the course;
* ``jupyter/<role>/``: what a role's JupyterLab loads (put first on its ``JUPYTER_CONFIG_PATH``):
  which of nbgrader's server extensions run, which of its JupyterLab panels show (and, for every
  role, no prompt about Jupyter's news feed), and nbgrader's course id and exchange. Students get the assignment list and Validate; the instructor and TAs
  also the course list (it links to formgrader); formgrader and Create Assignment run only in the
  formgrader service, as the grader account, whose nbgrader collects with
  :class:`coursekit.hub.exchange.OwnerCheckedCollect`; everyone else submits with
  :class:`coursekit.hub.exchange.PrivateSubmit`.

Outside it, ``/etc/profile.d/coursekit-<course id>.sh``: JupyterLab starts each terminal as a login
shell, and Debian's /etc/profile sets PATH anew, without the course's Python; this script puts it back
in front, for the hub's servers only (they set VIRTUAL_ENV to the users' environment).

The roles and the formgrader service follow nbgrader's documentation for JupyterHub ("one class,
multiple graders"): the service is named after the course id, the staff are the hub group
``formgrade-<course id>`` with a role granting access to it, and the students are the group
``nbgrader-<course id>``.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.environment import ENV_CONFIG
from coursekit.hub.accounts import Accounts
from coursekit.hub.userenv import UserEnv
from coursekit.labserver import student_nbgrader_config

ROLES = ("student", "staff", "grader")
_EXT = "nbgrader.server_extensions."
SERVER_EXTENSIONS = {
    "student": {"assignment_list": True, "validate_assignment": True, "course_list": False, "formgrader": False},
    "staff": {"assignment_list": True, "validate_assignment": True, "course_list": True, "formgrader": False},
    "grader": {"assignment_list": False, "validate_assignment": True, "course_list": False, "formgrader": True,
               "coursekit.handgrade": True},  # a full module name: not one of nbgrader's
}
_LAB = "@jupyter/nbgrader:"
LAB_PANELS_OFF = {
    "student": ("formgrader", "create-assignment", "course-list"),
    "staff": ("formgrader", "create-assignment"),
    "grader": ("assignment-list", "course-list"),
}
#: Off for every role: the plugin that asks "Would you like to get notified about official Jupyter news?"
#: and would then fetch news and updates from the internet; a course server has no use for either.
LAB_PLUGINS_OFF = ("@jupyterlab/apputils-extension:announcements",)
#: Where login shells look for the scripts that set up their environment (sourced by /etc/profile).
PROFILE_DIR = Path("/etc/profile.d")
#: The hub's login page: JupyterHub's own, with the course's title above the form.
LOGIN_TEMPLATE = """{% extends "templates/login.html" %}
{% block title %}{{ course_title }}{% endblock title %}
{% block login_container %}
  <h2 id="course-title" class="text-center">{{ course_title }}</h2>
  {{ super() }}
{% endblock login_container %}
"""
#: The grader account's extra nbgrader setting (the course folder's nbgrader_config.py gives the rest).
GRADER_NBGRADER_CONFIG = (
    "# written by `coursekit hub setup`: formgrader's collect refuses a submission made under another\n"
    "# student's id (coursekit/hub/exchange.py)\n"
    "c = get_config()  # noqa: F821\n"
    "c.ExchangeFactory.collect = 'coursekit.hub.exchange.OwnerCheckedCollect'\n"
)
#: Students' and staff's: their submissions readable by the course's grader only.
SUBMIT_CONFIG = ("# written by `coursekit hub setup`: a submission is closed to other students (coursekit/hub/exchange.py)\n"
                 "c.ExchangeFactory.submit = 'coursekit.hub.exchange.PrivateSubmit'\n")
PASSWORD_BYTES = 18  # 24 characters of base64


@dataclass(frozen=True)
class Ports:
    public: int      # the hub's page, on [hub] ip
    hub_api: int     # the hub itself, behind the proxy (127.0.0.1)
    proxy_api: int   # configurable-http-proxy's REST API (127.0.0.1)
    formgrader: int  # the formgrader service (127.0.0.1)


def ports(config: CourseConfig) -> Ports:
    base = config.hub.port
    return Ports(public=base, hub_api=base + 1, proxy_api=base + 2, formgrader=base + 3)


@dataclass(frozen=True)
class Layout:
    state_dir: Path

    @property
    def private(self) -> Path:
        return self.state_dir / "private"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "jupyterhub_config.py"

    @property
    def password_file(self) -> Path:
        return self.private / "password"

    @property
    def log_file(self) -> Path:
        return self.private / "hub.log"

    @property
    def pid_file(self) -> Path:
        return self.private / "hub.pid"

    @property
    def env(self) -> UserEnv:
        return UserEnv(self.state_dir / "env")

    @property
    def templates(self) -> Path:
        return self.state_dir / "templates"

    def role_dir(self, role: str) -> Path:
        return self.state_dir / "jupyter" / role


def layout(config: CourseConfig) -> Layout:
    return Layout(config.hub.state_dir)


def make_state_dir(lay: Layout) -> None:
    lay.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(lay.state_dir, 0o755)
    lay.private.mkdir(exist_ok=True)
    os.chmod(lay.private, 0o700)


def ensure_password(lay: Layout) -> str:
    """The shared password (made once, kept in private/password, 0600)."""
    if not lay.password_file.exists():
        fd = os.open(lay.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(PASSWORD_BYTES) + "\n")
    return lay.password_file.read_text().strip()


def write_role_settings(config: CourseConfig, lay: Layout) -> None:
    """jupyter/<role>/: jupyter_server_config.json, labconfig/page_config.json, nbgrader_config.py."""
    for role in ROLES:
        folder = lay.role_dir(role)
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        for path in (folder.parent, folder, folder / "labconfig"):
            os.chmod(path, 0o755)
        server = {"ServerApp": {"jpserver_extensions": {(name if "." in name else _EXT + name): on
                                                for name, on in SERVER_EXTENSIONS[role].items()}}}
        page = {"disabledExtensions": {**{_LAB + name: True for name in LAB_PANELS_OFF[role]},
                                       **{name: True for name in LAB_PLUGINS_OFF}}}
        nbgrader = GRADER_NBGRADER_CONFIG if role == "grader" else student_nbgrader_config(config) + SUBMIT_CONFIG
        for name, text in (("jupyter_server_config.json", json.dumps(server, indent=2)),
                           ("labconfig/page_config.json", json.dumps(page, indent=2)),
                           ("nbgrader_config.py", nbgrader)):
            (folder / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
            os.chmod(folder / name, 0o644)


def login_profile(config: CourseConfig, folder: Path = PROFILE_DIR) -> Path:
    """The login shells' script of this course's hub (see the module's docstring)."""
    return folder / f"coursekit-{config.course_id}.sh"


def login_profile_text(config: CourseConfig, lay: Layout) -> str:
    env = shlex.quote(str(lay.env.prefix))
    bin_dir = shlex.quote(str(lay.env.bin))
    return (f"# Written by `coursekit hub setup` for the course {config.course_id} ({config.path}).\n"
            "# JupyterLab starts its terminals as login shells, and /etc/profile sets PATH anew: put the\n"
            "# course's Python back in front, in the servers of that course's JupyterHub only.\n"
            f"if [ \"${{VIRTUAL_ENV:-}}\" = {env} ]; then\n"
            "    case \":${PATH}:\" in\n"
            f"        *:{bin_dir}:*) ;;\n"
            f"        *) PATH={bin_dir}:\"${{PATH}}\"; export PATH ;;\n"
            "    esac\n"
            "fi\n")


def write_login_profile(config: CourseConfig, lay: Layout, folder: Path = PROFILE_DIR) -> Path:
    """/etc/profile.d/coursekit-<course id>.sh (0644), so that a login shell finds the course's Python."""
    path = login_profile(config, folder)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(login_profile_text(config, lay), encoding="utf-8")
    os.chmod(path, 0o644)
    return path


def write_login_page(config: CourseConfig, lay: Layout) -> Path:
    lay.templates.mkdir(exist_ok=True)
    os.chmod(lay.templates, 0o755)
    path = lay.templates / "login.html"
    path.write_text(LOGIN_TEMPLATE, encoding="utf-8")
    os.chmod(path, 0o644)
    return path


def user_environment(config: CourseConfig, lay: Layout) -> dict[str, str]:
    """What every server and kernel on the hub finds in its environment (the role's folder is added per user)."""
    env = lay.env
    return {"PATH": f"{env.bin}:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(env.prefix),
            ENV_CONFIG: str(config.path), "PYTHONNOUSERSITE": "1"}


def grader_environment(config: CourseConfig, lay: Layout) -> dict[str, str]:
    """The formgrader service's environment (also what `coursekit grade` needs when run as the grader)."""
    return {**user_environment(config, lay), "JUPYTER_CONFIG_PATH": str(lay.role_dir("grader"))}


def hub_config_text(config: CourseConfig, lay: Layout, accounts: Accounts, proxy: Path) -> str:
    """jupyterhub_config.py for this course (literal values only; regenerated from course.toml)."""
    hub, port = config.hub, ports(config)
    course = config.course_id
    singleuser = [str(lay.env.python), "-m", "jupyterhub.singleuser"]
    roles = {**{name: "staff" for name in accounts.staff}, **{name: "student" for name in accounts.students}}
    role_dirs = {role: str(lay.role_dir(role)) for role in ROLES}
    authenticator = {
        "shared-password": ("c.JupyterHub.authenticator_class = 'shared-password'\n"
                            f"c.SharedPasswordAuthenticator.user_password = "
                            f"open({str(lay.password_file)!r}).read().strip()\n"),
        "pam": "c.JupyterHub.authenticator_class = 'pam'\n",
    }[hub.authenticator]
    service = {
        "name": course,
        "url": f"http://127.0.0.1:{port.formgrader}",
        "command": singleuser,
        "user": accounts.grader,
        "cwd": str(config.root),
        "environment": {**grader_environment(config, lay), "JUPYTERHUB_DEFAULT_URL": "/lab"},
        "oauth_no_confirm": True,
    }
    return f'''# Written by `python -m coursekit hub setup|start` from {config.path}.
# Edit course.toml ([hub]) and run `hub setup` again; changes made here are overwritten.
c = get_config()  # noqa: F821

c.JupyterHub.bind_url = {f"http://{hub.ip}:{port.public}"!r}
c.JupyterHub.hub_bind_url = {f"http://127.0.0.1:{port.hub_api}"!r}
c.ConfigurableHTTPProxy.api_url = {f"http://127.0.0.1:{port.proxy_api}"!r}
c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(lay.private / "proxy.pid")!r}
c.JupyterHub.db_url = {"sqlite:///" + str(lay.private / "jupyterhub.sqlite")!r}
c.JupyterHub.cookie_secret_file = {str(lay.private / "jupyterhub_cookie_secret")!r}
c.JupyterHub.cleanup_servers = True  # `hub stop` stops every user's server and the formgrader too
c.JupyterHub.template_paths = [{str(lay.templates)!r}]  # the login page names the course
c.JupyterHub.template_vars = {{"course_title": {config.title!r}, "course_id": {course!r}}}

# Who may log in: the roster ({len(accounts.students)} students), the instructor and the TAs.
{authenticator}c.Authenticator.allowed_users = set({sorted(set(accounts.students) | set(accounts.staff))!r})
c.Authenticator.admin_users = set()

# Each user's JupyterLab runs as that Unix user, in their home folder, on the course's Python.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = {singleuser!r}
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {user_environment(config, lay)!r}
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300

ROLE_OF = {roles!r}
ROLE_DIRS = {role_dirs!r}


def role_settings(spawner):
    """nbgrader's extensions and panels for this user's role (student or staff)."""
    role = ROLE_OF.get(spawner.user.name, "student")
    spawner.environment = {{**spawner.environment, "JUPYTER_CONFIG_PATH": ROLE_DIRS[role]}}


c.Spawner.pre_spawn_hook = role_settings

# nbgrader on JupyterHub ("one class, multiple graders"): formgrader is the service named after the
# course, running as {accounts.grader} in the course folder; the staff group may use it.
c.JupyterHub.load_groups = {{
    {f"formgrade-{course}"!r}: {{"users": {list(accounts.staff)!r}}},
    {f"nbgrader-{course}"!r}: {{"users": {list(accounts.students)!r}}},
}}
c.JupyterHub.load_roles = [
    {{"name": {f"formgrade-{course}"!r}, "groups": [{f"formgrade-{course}"!r}],
     "scopes": [{f"access:services!service={course}"!r}, "list:services", {f"read:services!service={course}"!r}]}},
    # nbgrader's course list asks the hub for the formgrader services with the server's own token
    {{"name": "server", "scopes": ["inherit"]}},
]
c.JupyterHub.services = [{service!r}]
'''


def write_hub_config(config: CourseConfig, lay: Layout, accounts: Accounts, proxy: Path) -> Path:
    text = hub_config_text(config, lay, accounts, proxy)
    fd = os.open(lay.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(lay.config_file, 0o600)
    return lay.config_file
