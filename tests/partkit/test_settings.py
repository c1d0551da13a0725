"""coursekit.partkit.settings: a part's thresholds are its own, course.toml overrides them by grade id and
key, the grader and the notebook's check judge with the overrides, and a bad override names its key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coursekit.partkit.checks import CheckFailed, fail
from coursekit.partkit.local import check, course_settings, judged
from coursekit.partkit.part import Assignment, Part, WorkerGroup
from coursekit.partkit.remote import returned
from coursekit.partkit.settings import SettingError, configured, overridden, settings_of


@dataclass(frozen=True)
class Limits:
    """at_least: the smallest answer that passes; strict: whether equality fails."""

    at_least: float = 10.0
    strict: bool = False
    label: str = "x"

    def __post_init__(self) -> None:
        if self.at_least < 0:
            raise ValueError(f"at_least must be >= 0, got {self.at_least}")


@dataclass(frozen=True)
class AtLeast(Part):
    def measure(self, worker, which, secret=None):
        got = returned(worker.ask("call", target=[self.definition], args=[]))
        return {"value": float(got["text"]) if isinstance(got, dict) else float(got)}

    def judge(self, data, which, secret=None):
        limit = self.settings.at_least
        if data["value"] < limit or (self.settings.strict and data["value"] == limit):
            fail(f"{data['value']} is below {limit:g}")


def homework() -> Assignment:
    return Assignment("hw", (AtLeast("test_a", "a", "f", "f", settings=Limits()), AtLeast("test_b", "a", "g", "g")),
                      {"a": WorkerGroup(("a",))})


def test_an_override_changes_the_verdict_of_its_part_only():
    plain = homework()
    stricter = configured(plain, {"test_a": {"at_least": 20}})
    data = {"value": 15.0}
    assert judged(plain.part("test_a"), data, "hidden") is None
    assert judged(stricter.part("test_a"), data, "hidden") == "15.0 is below 20"
    assert stricter.part("test_a").settings == Limits(at_least=20.0), "a whole number for a number setting is a float"
    assert plain.part("test_a").settings == Limits(), "the declared assignment is unchanged"
    assert stricter.part("test_b") is plain.part("test_b")
    assert configured(plain, {}) is plain and configured(plain, None) is plain


@pytest.mark.parametrize("overrides, expected", [
    ({"test_z": {"at_least": 1}}, r"'assignments\.hw\.settings\.test_z': hw has no autograded part 'test_z'"),
    ({"test_a": {"atleast": 1}}, r"key 'assignments\.hw\.settings\.test_a\.atleast' is not a setting of this part "
                                 r"\(it has: at_least, strict, label\)"),
    ({"test_a": {"at_least": "high"}}, r"key 'assignments\.hw\.settings\.test_a\.at_least' must be float, got str"),
    ({"test_a": {"at_least": True}}, r"key 'assignments\.hw\.settings\.test_a\.at_least' must be float, got True"),
    ({"test_a": {"strict": 1}}, r"key 'assignments\.hw\.settings\.test_a\.strict' must be bool, got 1"),
    ({"test_a": {"at_least": -1}}, r"'assignments\.hw\.settings\.test_a': at_least must be >= 0, got -1"),
    ({"test_b": {"at_least": 1}}, r"'assignments\.hw\.settings\.test_b': this part has no settings to override"),
])
def test_a_bad_override_names_its_key(overrides, expected):
    with pytest.raises(SettingError, match=expected):
        configured(homework(), overrides)


def test_settings_read_as_a_table():
    assert settings_of(homework().part("test_a")) == {"at_least": 10.0, "strict": False, "label": "x"}
    assert settings_of(homework().part("test_b")) == {}
    assert overridden(Limits(), {"label": "y", "strict": True}, "t") == Limits(strict=True, label="y")


def test_the_notebook_check_judges_with_the_course_toml_it_finds(tmp_path, monkeypatch):
    """course.toml's [assignments.NAME.settings.GRADE_ID] reaches the student's own check() as well."""
    import shutil
    from pathlib import Path

    from coursekit.environment import ENV_CONFIG
    root = Path(__file__).resolve().parents[2]
    text = (root / "course.toml").read_text(encoding="utf-8")
    text = text.replace("[assignments.lab2.points]", "[assignments.hw]\ntitle = \"hw\"\nnotebook = \"hw.ipynb\"\n"
                        "due = 2026-12-14T23:59:00+08:00\n[assignments.hw.points]\ntest_a = 1\n"
                        "[assignments.hw.settings.test_a]\nat_least = 20\n\n[assignments.lab2.points]", 1)
    (tmp_path / "course.toml").write_text(text, encoding="utf-8")
    shutil.copytree(root / "source", tmp_path / "source")
    monkeypatch.setenv(ENV_CONFIG, str(tmp_path / "course.toml"))
    assignment = course_settings(homework())
    assert assignment.part("test_a").settings.at_least == 20
    with pytest.raises(CheckFailed, match="15.0 is below 20"):
        check(assignment, "test_a", lambda: 15)
    check(homework(), "test_a", lambda: 15)
