"""The roster: ids checked one by one, every problem named with its line, nothing half-read."""

from __future__ import annotations

import pytest

from coursekit.hub import HubError
from coursekit.hub.roster import read_roster


def write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "roster.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_ids_in_order_other_columns_ignored_bom_and_blank_lines_allowed(tmp_path):
    path = write(tmp_path, "\ufeffname,id,email\n王小明,s2026001,a@x\n\n李华, s2026002 ,b@x\n")
    roster = read_roster(path)
    assert roster.students == ("s2026001", "s2026002")
    assert roster.path == path


def test_every_invalid_id_is_named_with_its_line(tmp_path):
    path = write(tmp_path, "id\nalice\nBob\nalice\ncarol+x\n1dave\n" + "e" * 33 + "\n")
    with pytest.raises(HubError) as info:
        read_roster(path)
    message = str(info.value)
    assert "5 invalid id(s); nothing was changed" in message
    for expected in ("line 3: 'Bob'", "line 4: 'alice' is already on line 2", "line 5: 'carol+x'",
                     "line 6: '1dave'", "line 7: 'eeee"):
        assert expected in message, message


@pytest.mark.parametrize("text, expected", [
    ("name\nalice\n", "has no column 'id' in its first line (found: name)"),
    ("id\n\n", "lists no students"),
    ("", "has no column 'id'"),
])
def test_a_roster_without_students_is_refused(tmp_path, text, expected):
    with pytest.raises(HubError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_roster(write(tmp_path, text))


def test_missing_and_non_utf8_files_are_clear(tmp_path):
    with pytest.raises(HubError, match="does not exist"):
        read_roster(tmp_path / "none.csv")
    with pytest.raises(HubError, match="not UTF-8"):
        read_roster(write(tmp_path, "id\n王小明\n", encoding="gbk"))
