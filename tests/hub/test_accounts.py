"""The course's accounts: one role per account, the grader account named after the course, no system account."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.hub import HubError
from coursekit.hub.accounts import check_not_system, course_accounts, grader_account
from coursekit.hub.roster import Roster

ROOT = Path(__file__).resolve().parents[2]


def test_roles_of_the_real_course_toml():
    config = load_config(ROOT / "course.toml")
    accounts = course_accounts(config, Roster(Path("r.csv"), ("s1", "s2")))
    assert accounts.grader == "grader-dl-lab2"
    assert accounts.staff == ("instructor", "ta1")
    assert accounts.everyone == ("s1", "s2", "instructor", "ta1", "grader-dl-lab2")


def test_a_student_who_is_also_staff_is_refused():
    config = load_config(ROOT / "course.toml")
    with pytest.raises(HubError, match="lists ta1, which course.toml names as staff"):
        course_accounts(config, Roster(Path("r.csv"), ("s1", "ta1")))
    with pytest.raises(HubError, match="grader-dl-lab2"):
        course_accounts(config, Roster(Path("r.csv"), ("grader-dl-lab2",)))
    staffed = replace(config, hub=replace(config.hub, tas=("grader-dl-lab2",)))
    with pytest.raises(HubError, match="is the grader account"):
        course_accounts(staffed, Roster(Path("r.csv"), ("s1",)))


def test_grader_account_needs_a_short_lower_case_course_id():
    assert grader_account("dl-lab2") == "grader-dl-lab2"
    with pytest.raises(HubError, match="does not make an account name"):
        grader_account("x" * 30)
    with pytest.raises(HubError, match="does not make an account name"):
        grader_account("DL Lab2")


def test_system_accounts_are_never_taken_over():
    with pytest.raises(HubError, match=r"root \(uid 0\).*Nothing was changed"):
        check_not_system(("someone-new-xyz", "root"))
    check_not_system(("someone-new-xyz",))  # an account that does not exist yet is fine
