"""The Python the course's users run: their JupyterLab servers, kernels, formgrader and ``coursekit grade``.

Every account must be able to execute the interpreter and read every installed file. The course's
venv may not allow that: a venv records the interpreter it was made from, and pyenv's live under
``/root`` (mode 0700). So ``hub setup`` builds the users' environment in ``<state_dir>/env``:

* a fresh venv of a system Python of the same version (``/usr/bin/python3.11``: Debian's, which
  everyone can run; the same minor version keeps compiled packages' ABI);
* the course venv's installed files linked into it with hard links (nothing is downloaded or
  copied: torch and its libraries alone are gigabytes); a file other users could not read is copied
  and made readable instead; the course package itself is copied, not the editable install's pointer
  to a folder users may not reach;
* the venv's console scripts (``nbgrader``, ``jupyter``, ``coursekit`` …) with their first line
  pointing at the new interpreter.

It is checked by running it as ``nobody`` before the hub uses it. Run ``hub setup`` again after
installing or upgrading packages in the course venv: it rebuilds the environment.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coursekit.hub import HubError

MARKER = ".coursekit-userenv"  # a folder with this file was built here and may be rebuilt
SYSTEM_BIN_DIRS = ("/usr/bin", "/usr/local/bin")
#: What a user's server, kernel and formgrader import: checked as nobody after every build.
CHECK_IMPORTS = "import jupyterhub.singleuser, jupyterlab, nbgrader.server_extensions.assignment_list, " \
                "coursekit.lab.session, coursekit.grading.execute, torch"
OTHERS_READ = stat.S_IROTH | stat.S_IRGRP


@dataclass(frozen=True)
class UserEnv:
    prefix: Path

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"


def blocked_by(path: Path) -> Path | None:
    """The first folder on the way to `path` that other users cannot enter, or `path` itself when
    they cannot read it; None when everyone can reach and read it."""
    path = Path(os.path.realpath(path))
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    mode = path.stat().st_mode
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return None if mode & need == need else path


def system_python(version: tuple[int, int] = sys.version_info[:2]) -> Path:
    """A Python of this minor version that every user can run, or HubError saying what to install."""
    name = f"python{version[0]}.{version[1]}"
    for folder in SYSTEM_BIN_DIRS:
        candidate = Path(folder) / name
        if not candidate.exists():
            continue
        real = Path(os.path.realpath(candidate))
        stdlib = real.parent.parent / "lib" / name
        if blocked_by(real) is None and stdlib.is_dir() and blocked_by(stdlib) is None:
            return candidate
    raise HubError(f"no {name} that other users can run in {' or '.join(SYSTEM_BIN_DIRS)}: the users' servers need "
                   f"one of the course venv's version (Debian: apt-get install {name} {name}-venv).")


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link src to dst; copy instead (made readable) across file systems or when others cannot read src."""
    mode = src.lstat().st_mode
    if mode & stat.S_IROTH:
        try:
            os.link(src, dst)
            return
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
    shutil.copy2(src, dst)
    extra = OTHERS_READ | ((stat.S_IXGRP | stat.S_IXOTH) if mode & stat.S_IXUSR else 0)
    os.chmod(dst, (mode | extra) & 0o7777)


def link_tree(src: Path, dst: Path, skip=lambda name: False) -> int:
    """Mirror the tree `src` into `dst` (folders 0755, files hard-linked); returns the files placed.
    `skip(name)` leaves out entries directly under `src`."""
    count = 0
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        rel = here.relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if not skip(d)]
            files = [f for f in files if not skip(f)]
        target = dst / rel
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755)
        for name in list(dirs):
            if (here / name).is_symlink():  # os.walk does not descend into it; keep it a link
                dirs.remove(name)
                os.symlink(os.readlink(here / name), target / name)
        for name in files:
            source = here / name
            if source.is_symlink():
                os.symlink(os.readlink(source), target / name)
            else:
                _link_or_copy(source, target / name)
                count += 1
    return count


def _scripts(venv: Path, env: Path) -> None:
    """The venv's console scripts, their interpreter line pointing at the new environment's Python."""
    old = str(venv / "bin" / "python")
    for script in sorted((venv / "bin").iterdir()):
        if script.name.startswith(("python", "activate", "Activate")) or script.is_dir():
            continue
        target = env / "bin" / script.name
        if target.exists():
            continue
        data = script.read_bytes()
        first, _, rest = data.partition(b"\n")
        if not first.startswith(b"#!") or old.encode() not in first:
            continue  # not a Python console script of this venv
        target.write_bytes(first.replace(old.encode(), str(env / "bin" / "python").encode()) + b"\n" + rest)
        os.chmod(target, 0o755)


def build_user_env(target: Path, venv: Path | None = None, package: Path | None = None,
                   python: Path | None = None) -> UserEnv:
    """(Re)build the users' environment in `target` from the course venv (default: this process's)."""
    venv = Path(venv or sys.prefix)
    package = Path(package or Path(__file__).resolve().parents[1])  # the coursekit package folder
    python = python or system_python()
    if target.exists():
        if not (target / MARKER).exists():
            raise HubError(f"{target} exists and was not built by coursekit: remove it or choose another "
                           f"[hub] state_dir.")
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([str(python), "-m", "venv", "--without-pip", str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{python} -m venv {target} failed: {result.stderr.strip()[-1500:]}")
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = target / "lib" / version / "site-packages"
    link_tree(venv / "lib" / version / "site-packages", site,
              skip=lambda name: name.startswith("__editable__") or name == package.name)
    shutil.copytree(package, site / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("share", "etc"):
        if (venv / folder).is_dir():
            link_tree(venv / folder, target / folder)
    _scripts(venv, target)
    for folder, dirs, files in os.walk(target):
        os.chmod(folder, 0o755)
    (target / MARKER).write_text(f"built by `coursekit hub setup` from {venv} on {python}\n")
    return UserEnv(prefix=target)


def check_user_env(env: UserEnv, account: str = "nobody") -> None:
    """Run the environment as `account` (a user with no rights of its own): HubError if it cannot import
    what the servers need."""
    command = ["runuser", "-u", account, "--", "env", "-i", f"PATH={env.bin}:/usr/bin:/bin", "HOME=/tmp",
               str(env.python), "-c", CHECK_IMPORTS]
    result = subprocess.run(command, capture_output=True, text=True, cwd="/")
    if result.returncode != 0:
        raise HubError(f"the users' Python {env.python} does not work for the user {account}:\n"
                       f"{result.stderr.strip()[-2000:]}")
