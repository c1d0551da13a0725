"""The course's accounts, each a real Unix user: the students of the roster, the instructor, the TAs,
and ``grader-<course id>``, the account that owns the course folder and runs formgrader (nbgrader's
"one class, multiple graders" setup). Nobody logs in as the grader account; the instructor and the
TAs reach its formgrader through the hub.

Users are made with ``useradd`` (a home folder of mode 0700 and a group of their own); an account
that already exists is kept as it is, unless it is a system account (uid below 1000, or root), which
the course never takes over.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import ACCOUNT_NAME, CourseConfig
from coursekit.hub import HubError
from coursekit.hub.roster import Roster

FIRST_UID = 1000  # Debian's UID_MIN: below it are system accounts
HOME_MODE = 0o700


@dataclass(frozen=True)
class Accounts:
    students: tuple[str, ...]
    instructor: str
    tas: tuple[str, ...]
    grader: str

    @property
    def staff(self) -> tuple[str, ...]:
        return (self.instructor, *self.tas)

    @property
    def everyone(self) -> tuple[str, ...]:
        return (*self.students, *self.staff, self.grader)


def grader_account(course_id: str) -> str:
    name = f"grader-{course_id}"
    if not ACCOUNT_NAME.fullmatch(name):
        raise HubError(f"the course id {course_id!r} does not make an account name ({name!r}): use lower-case "
                       f"letters, digits and '-' in [course] id, at most 24 characters.")
    return name


def course_accounts(config: CourseConfig, roster: Roster) -> Accounts:
    """Everyone's account name, checked for clashes between the roster and the staff."""
    hub = config.hub
    grader = grader_account(config.course_id)
    staff = set(hub.staff) | {grader}
    clash = sorted(staff & set(roster.students))
    if clash:
        raise HubError(f"the roster {roster.path} lists {', '.join(clash)}, which course.toml names as staff "
                       f"([hub] instructor/tas) or is the grader account; one account has one role.")
    if grader in hub.staff:
        raise HubError(f"{grader} is the grader account; name the instructor and TAs by their own accounts.")
    return Accounts(students=roster.students, instructor=hub.instructor, tas=hub.tas, grader=grader)


def existing(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def check_not_system(names: tuple[str, ...]) -> None:
    """HubError when any name is an existing system account (the course must not take one over)."""
    taken = [f"{name} (uid {entry.pw_uid})" for name in names
             if (entry := existing(name)) is not None and entry.pw_uid < FIRST_UID]
    if taken:
        raise HubError(f"{', '.join(taken)} already exist(s) as system account(s); choose other ids. "
                       f"Nothing was changed.")


def ensure_users(names: tuple[str, ...]) -> list[str]:
    """Create each missing Unix user (home folder 0700, own group); returns the names created."""
    created = []
    for name in names:
        if existing(name) is None:
            result = subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise HubError(f"useradd {name} failed (exit {result.returncode}): {result.stderr.strip()}")
            created.append(name)
        home = Path(pwd.getpwnam(name).pw_dir)
        if home.is_dir():
            os.chmod(home, HOME_MODE)  # another student must not read this one's notebooks
    return created


def remove_users(names: tuple[str, ...]) -> None:
    """Delete these users and their home folders (tests clean up with this; a missing user is fine).
    Their processes must have ended (stop the hub first): userdel refuses a user who is still running."""
    for name in names:
        entry = existing(name)
        if entry is None:
            continue
        if entry.pw_uid < FIRST_UID:
            raise HubError(f"refusing to remove the system account {name}")
        result = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if result.returncode not in (0, 12):  # 12: the home folder could not be removed (already gone)
            raise HubError(f"userdel {name} failed (exit {result.returncode}): {result.stderr.strip()}")
