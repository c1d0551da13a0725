"""The class list: a CSV file with a column ``id`` holding each student's login name.

Other columns (a name, an e-mail address) are allowed and ignored. Every id must be an account name
the hub, Unix and nbgrader's exchange all accept (:data:`coursekit.config.ACCOUNT_NAME`); a bad or
repeated id is reported with its line number, and nothing is created from a roster with any.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import ACCOUNT_NAME
from coursekit.hub import HubError

ID_COLUMN = "id"


@dataclass(frozen=True)
class Roster:
    path: Path
    students: tuple[str, ...]  # in the file's order


def read_roster(path: Path) -> Roster:
    """Read and check the roster; HubError names every problem (file, line, id)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not part of the header
    except FileNotFoundError:
        raise HubError(f"the roster {path} does not exist ([hub] roster in course.toml).") from None
    except UnicodeDecodeError as err:
        raise HubError(f"the roster {path} is not UTF-8 text ({err.reason}); save it as CSV UTF-8.") from None
    rows = csv.DictReader(text.splitlines())
    header = [name.strip() for name in rows.fieldnames or []]
    if ID_COLUMN not in header:
        raise HubError(f"the roster {path} has no column '{ID_COLUMN}' in its first line "
                       f"(found: {', '.join(header) or 'nothing'}).")
    rows.fieldnames = header
    students: list[str] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        student = (row.get(ID_COLUMN) or "").strip()
        if not student and not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        if not ACCOUNT_NAME.fullmatch(student):
            problems.append(f"line {line}: {student!r} is not a valid id (a lower-case letter, then up to 31 "
                            f"lower-case letters, digits, '-' or '_')")
        elif student in first_line:
            problems.append(f"line {line}: {student!r} is already on line {first_line[student]}")
        else:
            first_line[student] = line
            students.append(student)
    if problems:
        raise HubError(f"the roster {path} has {len(problems)} invalid id(s); nothing was changed:\n  "
                       + "\n  ".join(problems))
    if not students:
        raise HubError(f"the roster {path} lists no students.")
    return Roster(path=path, students=tuple(students))
