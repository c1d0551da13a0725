"""The second assignment (numerical stability) on the scratch deployment, with nothing but course.toml
naming it: the grader builds and releases it; a student, as their own Unix user with the environment the
hub gives their server, fetches it, runs its checks (``nbgrader validate``) and submits; the grader
collects and grades it in the sandbox."""

from __future__ import annotations

import os
import pwd

import nbformat
import pytest

from tests.hub.scratch_hub import missing_prerequisite, shared_deployment

_missing = missing_prerequisite()
if _missing:
    pytest.skip(f"no hub deployment here: {_missing}", allow_module_level=True)

NAME = "stability"


@pytest.fixture(scope="module")
def hub(request):
    return shared_deployment(request.config)


def test_the_second_assignment_is_released_checked_submitted_and_graded_on_the_hub(hub):
    from coursekit.authoring.samples import make_submission
    from coursekit.grading.gradetable import grade_rows
    from dlcourse.stability.samples import SAMPLES

    grader, student = hub.accounts.grader, hub.accounts.students[2]
    nbgrader = str(hub.layout.env.bin / "nbgrader")
    hub.run_as(grader, [str(hub.layout.env.python), "-m", "coursekit", "build", NAME])
    hub.run_as(grader, [nbgrader, "release_assignment", NAME])
    try:
        hub.run_as(student, [nbgrader, "fetch_assignment", NAME])
        fetched = f"/home/{student}/{NAME}/{NAME}.ipynb"
        release = nbformat.read(fetched, as_version=4)
        source = nbformat.read(hub.config.directory("source") / NAME / f"{NAME}.ipynb", as_version=4)
        reference = next(s for s in SAMPLES if s.student == "reference")
        nbformat.write(make_submission(release, source, reference), fetched)
        account = pwd.getpwnam(student)
        os.chown(fetched, account.pw_uid, account.pw_gid)

        validated = hub.run_as(student, [nbgrader, "validate", f"{NAME}/{NAME}.ipynb"])
        assert "Success! Your notebook passes all the tests." in validated.stdout, validated.stdout[-2000:]
        hub.run_as(student, [nbgrader, "submit", NAME])

        hub.run_as(grader, [nbgrader, "collect", NAME])
        hub.run_as(grader, [str(hub.layout.env.python), "-m", "coursekit", "grade", NAME, "--student", student])
        _, rows = grade_rows(hub.config, NAME)
        row = next(r for r in rows if r["student"] == student)
        assert row["auto"] == 16.0 and row["max_score"] == 20.0, row
    finally:  # the browser test's students, later in the session, see lab2 alone in their assignment list
        hub.run_as(grader, [nbgrader, "list", "--remove", NAME], check=False)
    assert not (hub.config.exchange_root / hub.course_id / "outbound" / NAME).exists()
