"""jupyterhub_config.py and the roles' settings, read back the way JupyterHub and Jupyter read them."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

from traitlets.config import Config

from coursekit.config import load_config
from coursekit.hub.accounts import Accounts
from coursekit.hub.hubconfig import Layout, ensure_password, hub_config_text, make_state_dir, ports, \
    write_login_page, write_login_profile, write_role_settings

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = Accounts(students=("s2026001", "s2026002"), instructor="instructor", tas=("ta1",), grader="grader-dl-lab2")


def load(text: str) -> tuple[Config, dict]:
    config = Config()
    namespace = {"get_config": lambda: config}
    exec(compile(text, "jupyterhub_config.py", "exec"), namespace)
    return config, namespace


def test_hub_configuration_from_course_toml(tmp_path):
    course = load_config(ROOT / "course.toml")
    lay = Layout(tmp_path / "state")
    make_state_dir(lay)
    password = ensure_password(lay)
    assert len(password) >= 8 and ensure_password(lay) == password  # made once, then kept
    assert stat.S_IMODE(lay.password_file.stat().st_mode) == 0o600
    c, namespace = load(hub_config_text(course, lay, ACCOUNTS, Path("/opt/chp")))
    assert c.SharedPasswordAuthenticator.user_password == password
    p = ports(course)
    assert (p.public, p.hub_api, p.proxy_api, p.formgrader) == (8000, 8001, 8002, 8003)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.ConfigurableHTTPProxy.command == ["/opt/chp"]
    assert c.Authenticator.allowed_users == {"s2026001", "s2026002", "instructor", "ta1"}
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.Spawner.cmd == [str(lay.env.python), "-m", "jupyterhub.singleuser"]
    assert c.Spawner.environment["COURSE_TOML"] == str(course.path)
    # formgrader: the service named after the course, as the grader account, in the course folder
    [service] = c.JupyterHub.services
    assert service["name"] == "dl-lab2" and service["user"] == "grader-dl-lab2"
    assert service["cwd"] == str(course.root) and service["url"] == "http://127.0.0.1:8003"
    assert service["environment"]["JUPYTER_CONFIG_PATH"] == str(lay.role_dir("grader"))
    assert c.JupyterHub.load_groups == {"formgrade-dl-lab2": {"users": ["instructor", "ta1"]},
                                        "nbgrader-dl-lab2": {"users": ["s2026001", "s2026002"]}}
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "formgrade-dl-lab2")
    assert role["groups"] == ["formgrade-dl-lab2"] and "access:services!service=dl-lab2" in role["scopes"]
    # each user's server gets the settings of their role
    for user, role_name in (("s2026001", "student"), ("ta1", "staff"), ("instructor", "staff")):
        spawner = SimpleNamespace(user=SimpleNamespace(name=user), environment={"A": "1"})
        c.Spawner.pre_spawn_hook(spawner)
        assert spawner.environment == {"A": "1", "JUPYTER_CONFIG_PATH": str(lay.role_dir(role_name))}


def test_pam_is_the_other_authenticator(tmp_path):
    course = load_config(ROOT / "course.toml")
    from dataclasses import replace
    course = replace(course, hub=replace(course.hub, authenticator="pam"))
    c, _ = load(hub_config_text(course, Layout(tmp_path), ACCOUNTS, Path("/opt/chp")))
    assert c.JupyterHub.authenticator_class == "pam"
    assert "user_password" not in c.SharedPasswordAuthenticator


def test_role_settings(tmp_path):
    course = load_config(ROOT / "course.toml")
    lay = Layout(tmp_path)
    write_role_settings(course, lay)
    extensions = {role: json.loads((lay.role_dir(role) / "jupyter_server_config.json").read_text())
                  ["ServerApp"]["jpserver_extensions"] for role in ("student", "staff", "grader")}
    formgrader = "nbgrader.server_extensions.formgrader"
    assert [extensions[r][formgrader] for r in ("student", "staff", "grader")] == [False, False, True]
    assert extensions["student"]["nbgrader.server_extensions.assignment_list"] is True
    assert extensions["staff"]["nbgrader.server_extensions.course_list"] is True
    panels = json.loads((lay.role_dir("student") / "labconfig" / "page_config.json").read_text())
    assert panels["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    for role, expected in (("student", "PrivateSubmit"), ("grader", "OwnerCheckedCollect")):
        c = Config()
        exec((lay.role_dir(role) / "nbgrader_config.py").read_text(), {"get_config": lambda: c})
        assert expected in str(c.ExchangeFactory)
    c = Config()
    exec((lay.role_dir("student") / "nbgrader_config.py").read_text(), {"get_config": lambda: c})
    assert c.CourseDirectory.course_id == "dl-lab2" and c.Exchange.root == str(course.exchange_root)


def test_every_role_is_spared_the_news_prompt_and_the_login_page_names_the_course(tmp_path):
    course = load_config(ROOT / "course.toml")
    lay = Layout(tmp_path)
    write_role_settings(course, lay)
    for role in ("student", "staff", "grader"):
        page = json.loads((lay.role_dir(role) / "labconfig" / "page_config.json").read_text())
        assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True, role
    make_state_dir(lay)
    ensure_password(lay)
    c, _ = load(hub_config_text(course, lay, ACCOUNTS, Path("/opt/chp")))
    assert c.JupyterHub.template_paths == [str(lay.templates)]
    assert c.JupyterHub.template_vars["course_title"] == course.title
    template = write_login_page(course, lay).read_text(encoding="utf-8")
    assert template.startswith('{% extends "templates/login.html" %}') and "{{ course_title }}" in template


def login_shell_path(script: Path, env: dict[str, str]) -> str:
    """PATH after /etc/profile's reset and then `script`, as a login shell has it."""
    code = f'PATH=/usr/local/bin:/usr/bin:/bin; . "{script}"; printf %s "$PATH"'
    return subprocess.run(["sh", "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_the_login_shells_of_the_hubs_servers_find_the_course_python_again(tmp_path):
    course = load_config(ROOT / "course.toml")
    lay = Layout(tmp_path / "state dir")  # a space: the script quotes what it names
    script = write_login_profile(course, lay, folder=tmp_path / "profile.d")
    assert script == tmp_path / "profile.d" / "coursekit-dl-lab2.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o644
    ours = {"VIRTUAL_ENV": str(lay.env.prefix)}
    assert login_shell_path(script, ours) == f"{lay.env.bin}:/usr/local/bin:/usr/bin:/bin"
    # sourced twice (a login shell inside a terminal): still once on PATH
    twice = subprocess.run(["sh", "-c", f'PATH=/usr/bin; . "{script}"; . "{script}"; printf %s "$PATH"'],
                           env=ours, capture_output=True, text=True, check=True).stdout
    assert twice == f"{lay.env.bin}:/usr/bin"
    # anyone else's login shell (another venv, or none) is left as /etc/profile made it
    for env in ({}, {"VIRTUAL_ENV": "/opt/other"}):
        assert login_shell_path(script, env) == "/usr/local/bin:/usr/bin:/bin"
