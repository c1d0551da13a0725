"""The users' Python: reachability, hard links (a copy, made readable, where others could not read), scripts."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from coursekit.hub.userenv import _scripts, base_interpreter, blocked_by, interpreter_reachable, link_tree, \
    place_interpreter


@pytest.fixture
def open_tmp():
    """A folder under /tmp that everyone can enter (pytest's own are root's, 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="coursekit-hub-userenv-", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


def test_blocked_by_names_the_closed_folder_or_the_unreadable_file(open_tmp):
    closed = open_tmp / "closed"
    inner = closed / "inner"
    inner.mkdir(parents=True)
    target = inner / "file"
    target.write_text("x")
    os.chmod(inner, 0o755)
    os.chmod(target, 0o644)
    os.chmod(closed, 0o700)
    assert blocked_by(target) == closed
    os.chmod(closed, 0o711)  # enter, not list: enough to reach a file by its name
    assert blocked_by(target) is None
    os.chmod(target, 0o600)
    assert blocked_by(target) == target
    assert blocked_by(inner) is None


def test_link_tree_links_readable_files_and_copies_private_ones_readable(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    (src / "pkg" / "secret.so").write_text("bits")
    os.chmod(src / "pkg" / "mod.py", 0o644)
    os.chmod(src / "pkg" / "secret.so", 0o700)
    (src / "skipme").mkdir()
    (src / "pkg" / "link").symlink_to("mod.py")
    placed = link_tree(src, dst, skip=lambda name: name == "skipme")
    assert placed == 2
    assert os.stat(dst / "pkg" / "mod.py").st_ino == os.stat(src / "pkg" / "mod.py").st_ino  # a hard link
    copied = dst / "pkg" / "secret.so"
    assert os.stat(copied).st_ino != os.stat(src / "pkg" / "secret.so").st_ino
    assert stat.S_IMODE(copied.stat().st_mode) == 0o755  # readable and executable by everyone
    assert stat.S_IMODE((src / "pkg" / "secret.so").stat().st_mode) == 0o700  # the original untouched
    assert os.readlink(dst / "pkg" / "link") == "mod.py"
    assert not (dst / "skipme").exists()
    assert stat.S_IMODE((dst / "pkg").stat().st_mode) == 0o755


def test_console_scripts_point_at_the_new_python(tmp_path):
    venv, env = tmp_path / "venv", tmp_path / "env"
    (venv / "bin").mkdir(parents=True)
    (env / "bin").mkdir(parents=True)
    (venv / "bin" / "nbgrader").write_text(f"#!{venv}/bin/python\nimport sys\n")
    (venv / "bin" / "other").write_text("#!/bin/sh\necho hi\n")
    (venv / "bin" / "python3").write_text("binary")
    _scripts(venv, env)
    assert (env / "bin" / "nbgrader").read_text() == f"#!{env}/bin/python\nimport sys\n"
    assert os.access(env / "bin" / "nbgrader", os.X_OK)
    assert not (env / "bin" / "other").exists() and not (env / "bin" / "python3").exists()


def test_the_interpreter_is_given_to_the_users_with_libpython_beside_it(open_tmp):
    executable = base_interpreter()
    placed = place_interpreter(open_tmp / "python", executable)
    if interpreter_reachable(executable):
        assert placed == executable  # used where it is
        return
    if shutil.which("patchelf") is None:
        pytest.skip("patchelf is not installed (apt-get install patchelf; .ci/run does it)")
    assert placed == open_tmp / "python" / "bin" / executable.name
    assert placed.read_bytes() != executable.read_bytes()  # a patched copy; the original is untouched
    assert "$ORIGIN/../lib" in subprocess.run(["patchelf", "--print-rpath", str(placed)], capture_output=True,
                                              text=True).stdout
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert not any((open_tmp / "python" / "lib" / version / "site-packages").iterdir())
    result = subprocess.run(["runuser", "-u", "nobody", "--", str(placed), "-c",
                             "import sys, ssl, re; print(sys.version.split()[0])"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.version.split()[0]  # the same patch release as the course venv
