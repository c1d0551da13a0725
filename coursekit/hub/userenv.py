"""The Python the course's users run: their JupyterLab servers, kernels, formgrader and ``coursekit grade``.

Every account must be able to execute the interpreter and read every installed file. The course's
venv may not allow that: a venv records the interpreter it was made from, and pyenv's live under
``/root`` (mode 0700). So ``hub setup`` builds the users' environment in ``<state_dir>/env``:

* the interpreter: the course venv's own (the same patch release: Debian's 3.11.2, say, has a
  regular-expression bug that breaks nbconvert's HTML export, which formgrader and feedback use).
  When users can run it where it is, it is used as it is; otherwise its installation (without its
  own site-packages) is placed in ``<state_dir>/python`` with hard links, and the executable is
  copied and told with ``patchelf`` to find libpython next to itself instead of in the closed folder;
* a fresh venv of that interpreter;
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
#: What a user's server, kernel and formgrader import: checked as nobody after every build.
CHECK_IMPORTS = ("import jupyterhub.singleuser, jupyterlab, nbgrader.server_extensions.assignment_list, "
                 "coursekit.partkit.local, coursekit.grading.execute, torch, ssl, sqlite3, ctypes, soupsieve; "
                 "soupsieve.compile('img:not([alt])')")  # nbconvert's HTML export (formgrader, feedback)
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


def base_interpreter() -> Path:
    """The real executable behind this venv's python (e.g. /root/.pyenv/versions/3.11.7/bin/python3.11)."""
    return Path(os.path.realpath(sys.executable))


def _runpath(executable: Path) -> list[str]:
    result = subprocess.run(["patchelf", "--print-rpath", str(executable)], capture_output=True, text=True)
    return [p for p in result.stdout.strip().split(":") if p] if result.returncode == 0 else []


def interpreter_reachable(executable: Path) -> bool:
    """Whether other users can run `executable` where it is: it, its standard library and the folders its
    libpython is looked up in."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = Path(sys.base_prefix) / "lib" / version
    needed = [executable, stdlib] + [Path(p) for p in _runpath(executable) if Path(p).exists()]
    return all(blocked_by(path) is None for path in needed)


def check_patchelf(executable: Path) -> None:
    """HubError when the interpreter must be moved for the users and patchelf is missing."""
    if not interpreter_reachable(executable) and shutil.which("patchelf") is None:
        raise HubError(f"other users cannot run {executable} where it is ({blocked_by(executable) or 'its libpython'} "
                       f"is closed to them), and moving it needs patchelf: apt-get install patchelf. "
                       f"Nothing was changed.")


def place_interpreter(target: Path, executable: Path | None = None) -> Path:
    """Users' copy of the interpreter's installation in `target` (hard links; the executable copied and
    made to find libpython in target/lib); returns its executable. Used as is when users can run it."""
    executable = executable or base_interpreter()
    if interpreter_reachable(executable):
        return executable
    base = Path(sys.base_prefix).resolve()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if target.exists():
        if not (target / MARKER).exists():
            raise HubError(f"{target} exists and was not made by coursekit: remove it or choose another [hub] state_dir.")
        shutil.rmtree(target)
    (target / "bin").mkdir(parents=True)
    for entry in (base / "lib").iterdir():
        if entry.name == version:  # the standard library, without the base installation's own packages
            link_tree(entry, target / "lib" / version, skip=lambda name: name in ("site-packages", "test"))
            (target / "lib" / version / "site-packages").mkdir(exist_ok=True)
        elif entry.is_dir() and not entry.is_symlink():
            link_tree(entry, target / "lib" / entry.name)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), target / "lib" / entry.name)
        else:
            _link_or_copy(entry, target / "lib" / entry.name)
    for folder in (target, target / "lib", target / "bin"):
        os.chmod(folder, 0o755)
    copy = target / "bin" / executable.name
    shutil.copy2(executable, copy)  # a copy: patchelf must not change the original through a hard link
    os.chmod(copy, 0o755)
    result = subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(copy)], capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"patchelf could not update {copy}: {result.stderr.strip()}")
    (target / MARKER).write_text(f"made by `coursekit hub setup` from {base}\n")
    return copy


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


def build_user_env(target: Path, python: Path, venv: Path | None = None, package: Path | None = None,
                   course_packages: tuple[Path, ...] = ()) -> UserEnv:
    """(Re)build the users' environment in `target` from the course venv (default: this process's), on
    `python` (:func:`place_interpreter`). ``course_packages``: the folders of the course's own packages
    (those its assignments' parts live in), copied beside the engine's."""
    venv = Path(venv or sys.prefix)
    package = Path(package or Path(__file__).resolve().parents[1])  # the coursekit package folder
    copied = (package, *course_packages)
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
    names = {folder.name for folder in copied}
    link_tree(venv / "lib" / version / "site-packages", site,
              skip=lambda name: name.startswith("__editable__") or name in names)
    for folder in copied:
        shutil.copytree(folder, site / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
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
