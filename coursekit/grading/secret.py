"""The grader's secret: it chooses the hidden cases' values and shapes (each part's ``cases``, coursekit.partkit.part.Part).

It lives in the course folder as ``.grading-secret`` (mode 0600, never committed, never in release/
or in the package students install), made on first use. The same secret gives the same hidden cases,
so a submission graded again gets the same score; a new secret (delete the file) draws new ones.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = ".grading-secret"


def grading_secret(course_dir: Path) -> bytes:
    path = Path(course_dir) / FILE_NAME
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    value = secrets.token_bytes(32)
    # Written whole under another name, then linked into place: a grading process beside this one
    # either links first (and this one reads its secret) or finds the complete file.
    temporary = path.with_name(f"{FILE_NAME}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex() + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        value = bytes.fromhex(path.read_text().strip())
    finally:
        temporary.unlink()
    return value
