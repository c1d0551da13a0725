"""A scratch course deployed with ``coursekit hub setup`` for the hub tests, and removed afterwards.

The isolation test, the second assignment's test and the browser test share one deployment per test
session
(:func:`shared_deployment`: four students; the browser's are the first two, the isolation test's
the last two), removed when the session ends: setting up and removing a class costs more than
either test's own steps.

Each deployment has its own course id (``ck`` and six random hex digits), so its accounts
(``<id>a``, ``<id>b`` students, ``<id>i`` instructor, ``<id>t`` TA, ``grader-<id>``) and folders never
meet another run's; its four ports are free when it is made. The course lives in a folder under /tmp
that every user can enter (pytest's own temporary folders are root's, 0700). :func:`remove` stops its
hub, deletes its Unix users with their homes and removes the folder.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.authoring.release import copy_course
from coursekit.config import CourseConfig, load_config
from coursekit.hub import HubError, deploy, process
from coursekit.hub.accounts import Accounts, remove_users
from coursekit.hub.hubconfig import Layout, grader_environment, login_profile, user_environment
from coursekit.hub.userenv import base_interpreter, check_patchelf

ROOT = Path(__file__).resolve().parents[2]


def mirror_path() -> Path:
    env = os.environ.get("COURSE_DATA_MIRROR")
    return Path(env).resolve() if env else ROOT.parent / "shared" / "datasets"


def missing_prerequisite() -> str | None:
    """Why a hub deployment cannot be made on this machine, or None."""
    if os.geteuid() != 0:
        return "the hub tests create Unix users and run as root"
    for tool in deploy.TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if shutil.which(process.PROXY) is None and not process.repository_proxy().exists():
        return f"{process.PROXY} is not installed (`npm ci` in the repository; .ci/run does it)"
    if shutil.which("node") is None:
        return "Node.js is not installed (configurable-http-proxy needs it)"
    try:
        check_patchelf(base_interpreter())
    except HubError as err:
        return str(err)
    return None


def free_port_block(count: int = 4, tries: int = 200) -> int:
    """A port p such that p .. p+count-1 are all free on 127.0.0.1 now."""
    for _ in range(tries):
        base = random.randrange(20000, 60000)
        if all(process.port_free("127.0.0.1", base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found in {tries} tries")


@dataclass
class ScratchHub:
    base: Path
    config: CourseConfig
    accounts: Accounts
    layout: Layout
    password: str | None
    url: str = ""                                         # the hub's address once started
    state: dict = field(default_factory=dict)             # what earlier steps of a test left for later ones

    @property
    def course_id(self) -> str:
        return self.config.course_id

    def environment(self, user: str) -> dict[str, str]:
        """What the hub gives `user`'s server (the grader's: the formgrader service's)."""
        if user == self.accounts.grader:
            env = grader_environment(self.config, self.layout)
        else:
            role = "staff" if user in self.accounts.staff else "student"
            env = {**user_environment(self.config, self.layout),
                   "JUPYTER_CONFIG_PATH": str(self.layout.role_dir(role))}
        return {**env, "HOME": f"/home/{user}", "USER": user, "LOGNAME": user, "MPLBACKEND": "Agg"}

    def run_as(self, user: str, args: list[str], cwd: Path | None = None, check: bool = True,
               timeout: float = 900) -> subprocess.CompletedProcess:
        """Run `args` as the Unix user `user`, with what the hub would give that user's server."""
        env = self.environment(user)
        folder = cwd or (self.config.root if user == self.accounts.grader else Path(env["HOME"]))
        command = ["runuser", "-u", user, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()], *args]
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, (f"as {user}: {args} failed ({result.returncode}):\n"
                                            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def python_as(self, user: str, code: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run_as(user, [str(self.layout.env.python), "-c", code], check=check)


def deploy_scratch(label: str, students: int = 2) -> ScratchHub:
    """Copy the course, give it a [hub] of its own, run `hub setup`. Nothing is released: setup leaves that
    to the instructor (the browser test types it in the grader's terminal; :func:`ensure_released`)."""
    cid = f"ck{secrets.token_hex(3)}"
    base = Path(tempfile.mkdtemp(prefix=f"coursekit-hub-{label}-", dir="/tmp"))
    os.chmod(base, 0o755)
    config_path = copy_course(ROOT, base / "course", with_release=False)
    names = [f"{cid}{chr(ord('a') + i)}" for i in range(students)]
    (base / "course" / "roster.csv").write_text("id,name\n" + "".join(f"{n},Student {n}\n" for n in names),
                                                encoding="utf-8")
    text = config_path.read_text(encoding="utf-8")
    for pattern, value in ((r'^id = "dl-lab2"', f'id = "{cid}"'), (r"^instructor = .*", f'instructor = "{cid}i"'),
                           (r"^tas = .*", f'tas = ["{cid}t"]'), (r"^port = .*", f"port = {free_port_block()}"),
                           (r"^state_dir = .*", f'state_dir = "{base / "state"}"'),
                           (r"^roster = .*", 'roster = "roster.csv"'),
                           (r"^authenticator = .*", 'authenticator = "shared-password"'),
                           # a busy 2-core machine may need minutes for one cell; the limit is not tested here
                           (r"^cell_timeout = \d+", "cell_timeout = 900"),
                           # submitted now, on time whatever today's date
                           (r"^due = \d{4}-", "due = 2099-")):
        text, count = re.subn(pattern, value, text, count=1, flags=re.M)
        assert count == 1, f"course.toml has no line matching {pattern}"
    config_path.write_text(text, encoding="utf-8")
    os.environ.setdefault("COURSE_DATA_MIRROR", str(mirror_path()))
    config = load_config(config_path)
    hub = None
    try:
        result = deploy.setup(config, say=lambda message: print(f"[hub setup] {message}"))
        return ScratchHub(base=base, config=config, accounts=result.accounts, layout=result.layout,
                          password=result.password)
    except BaseException:
        remove(hub, base=base, accounts=deploy.accounts_of(config), config=config)
        raise


def ensure_released(hub: ScratchHub, name: str) -> bool:
    """Build and release `name` as the grader account unless it is in the exchange already; True when
    this call released it (the caller then takes it back with :func:`take_back`)."""
    if (hub.config.exchange_root / hub.course_id / "outbound" / name).is_dir():
        return False
    hub.run_as(hub.accounts.grader, [str(hub.layout.env.python), "-m", "coursekit", "build", name])
    hub.run_as(hub.accounts.grader, [str(hub.layout.env.bin / "nbgrader"), "release_assignment", name])
    return True


def take_back(hub: ScratchHub, name: str) -> None:
    """Remove `name` from the exchange's outbound folder (submissions stay), as the grader account."""
    hub.run_as(hub.accounts.grader, [str(hub.layout.env.bin / "nbgrader"), "list", "--remove", name], check=False)
    assert not (hub.config.exchange_root / hub.course_id / "outbound" / name).exists()


def remove(hub: ScratchHub | None, base: Path | None = None, accounts: Accounts | None = None,
           config: CourseConfig | None = None) -> None:
    """Stop the hub, delete the deployment's Unix users and homes, its login shells' script and its folder."""
    base = base or hub.base
    accounts = accounts or hub.accounts
    config = config or hub.config
    if hub is not None:
        process.stop(hub.layout)
    remove_users(accounts.everyone)
    login_profile(config).unlink(missing_ok=True)
    shutil.rmtree(base, ignore_errors=True)


_shared: list[ScratchHub] = []  # the session's deployment, once made


def shared_deployment(config) -> ScratchHub:
    """The test session's deployment (made on first use, removed at the session's end; `config` is
    pytest's Config)."""
    if not _shared:
        _shared.append(deploy_scratch("class", students=4))
        config.add_cleanup(lambda: remove(_shared.pop()))
    return _shared[0]
