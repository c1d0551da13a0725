"""`hub setup` and `hub start` refuse, with one clear message and no change, a roster with invalid ids,
a missing proxy, a port in use, and a course folder that root's Python lives in."""

from __future__ import annotations

import pwd
import re
import socket
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.hub.process import port_free

ROOT = Path(__file__).resolve().parents[2]


def course(tmp_path: Path, roster: str, **hub: str) -> Path:
    """A course.toml in tmp_path/course whose [hub] points at tmp_path (state) and the given roster."""
    folder = tmp_path / "course"
    folder.mkdir()
    text = (ROOT / "course.toml").read_text(encoding="utf-8")
    values = {"state_dir": f'"{tmp_path / "state"}"', "roster": '"roster.csv"', **hub}
    for key, value in values.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert count == 1
    (folder / "course.toml").write_text(text, encoding="utf-8")
    (folder / "roster.csv").write_text(roster, encoding="utf-8")
    return folder / "course.toml"


def unchanged(tmp_path: Path, names: tuple[str, ...]) -> None:
    assert not (tmp_path / "state").exists(), "no hub state was written"
    for name in names:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    assert sorted(p.name for p in (tmp_path / "course").iterdir()) == ["course.toml", "roster.csv"]


def test_invalid_roster_ids_change_nothing(tmp_path, capsys):
    toml = course(tmp_path, "id\nzzhubok1\nNot Valid\nzzhubok2\n")
    assert main(["--config", str(toml), "hub", "setup"]) == 2
    err = capsys.readouterr().err
    assert "line 3: 'Not Valid' is not a valid id" in err and "nothing was changed" in err
    unchanged(tmp_path, ("zzhubok1", "zzhubok2"))


def test_missing_proxy_changes_nothing(tmp_path, capsys):
    toml = course(tmp_path, "id\nzzhubok1\n", proxy='"/nonexistent/configurable-http-proxy"')
    assert main(["--config", str(toml), "hub", "setup"]) == 2
    err = capsys.readouterr().err
    assert "is not an executable" in err and "npm ci" in err and "Nothing was changed" in err
    unchanged(tmp_path, ("zzhubok1",))
    assert main(["--config", str(toml), "hub", "start"]) == 2
    assert "is not an executable" in capsys.readouterr().err
    unchanged(tmp_path, ("zzhubok1",))


def test_port_in_use_is_named_and_changes_nothing(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        toml = course(tmp_path, "id\nzzhubok1\n", port=str(port - 2), proxy='"/bin/true"')
        assert main(["--config", str(toml), "hub", "start"]) == 2
        err = capsys.readouterr().err
        assert f"127.0.0.1:{port} (the proxy's API)" in err and "Nothing was changed" in err
    unchanged(tmp_path, ("zzhubok1",))


def test_course_folder_holding_roots_python_is_refused(tmp_path, capsys):
    # the repository's own course.toml: its folder holds the venv and the coursekit package root runs
    toml = course(tmp_path, "id\nzzhubok1\n", proxy='"/bin/true"')
    from coursekit.config import load_config
    from coursekit.hub import HubError
    from coursekit.hub.coursefolder import check_course_folder
    config = load_config(toml)
    with pytest.raises(HubError, match="inside the course folder"):
        check_course_folder(config, package=config.root / "coursekit")
