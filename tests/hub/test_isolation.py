"""Isolation between the course's real Unix users, on a scratch deployment (``hub setup``, no browser).

As a student's own Unix user, with the environment the hub gives that student's server: another
student's submission in the exchange, the other's home, the course's source/, submitted/ and the
gradebook cannot be read; a submission made under another student's id is refused by the grader's
collect, and the student's own submission is collected instead.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.hub.scratch_hub import ScratchHub, ensure_released, missing_prerequisite, shared_deployment, take_back

_missing = missing_prerequisite()
if _missing:
    pytest.skip(f"no hub deployment here: {_missing}", allow_module_level=True)

ORIGINAL = "甲同学自己的答案"
FORGED = "乙同学冒名提交"

# As the student: try to read `path` (a file, or a folder to list); print what happened as JSON.
PROBE = """
import json, os, sys
path = sys.argv[1]
try:
    found = sorted(os.listdir(path)) if os.path.isdir(path) else len(open(path, 'rb').read())
    print(json.dumps({"read": True, "found": found}))
except OSError as err:
    print(json.dumps({"read": False, "error": type(err).__name__}))
"""


@pytest.fixture(scope="module")
def hub(request):
    """The shared deployment with lab2 released; taken back afterwards if this module released it, so
    that the browser test, later in the session, releases it as the instructor does."""
    deployment = shared_deployment(request.config)
    released_here = ensure_released(deployment, "lab2")
    yield deployment
    if released_here:
        take_back(deployment, "lab2")


def pair(hub: ScratchHub) -> tuple[str, str]:
    """This test's two students (the browser test uses the first two of the roster)."""
    return hub.accounts.students[2], hub.accounts.students[3]


def probe(hub: ScratchHub, user: str, path) -> dict:
    result = hub.run_as(user, [str(hub.layout.env.python), "-c", PROBE, str(path)])
    return json.loads(result.stdout.strip().splitlines()[-1])


def fetch_and_answer(hub: ScratchHub, student: str, text: str, claim: str | None = None) -> None:
    """As `student`: fetch lab2 (once), put `text` in the first 思考题 answer, submit (as `claim` if given)."""
    nbgrader = str(hub.layout.env.bin / "nbgrader")
    home = f"/home/{student}"
    hub.run_as(student, ["sh", "-c", f"test -d lab2 || {nbgrader} fetch_assignment lab2"])
    hub.python_as(student, (
        "import nbformat\n"
        f"nb = nbformat.read('{home}/lab2/lab2.ipynb', as_version=4)\n"
        "cell = next(c for c in nb.cells if c.metadata.get('nbgrader', {}).get('grade_id') == 'answer_q1')\n"
        f"cell.source = {text!r}\n"
        f"nbformat.write(nb, '{home}/lab2/lab2.ipynb')\n"))
    claim_args = [f"--student={claim}"] if claim else []
    hub.run_as(student, [nbgrader, "submit", "lab2", *claim_args])


def test_students_cannot_read_each_other_or_the_course(hub):
    alice, bob = pair(hub)
    fetch_and_answer(hub, alice, ORIGINAL)
    inbound = hub.config.exchange_root / hub.course_id / "inbound"
    [submission] = [p for p in inbound.iterdir() if p.name.startswith(f"{alice}+lab2+")]
    notebook = submission / "lab2.ipynb"
    assert ORIGINAL in notebook.read_text(encoding="utf-8")
    # alice herself still reads what she submitted
    assert probe(hub, alice, notebook)["read"]

    # bob, knowing the exact paths (an attacker's best case), reads none of it
    for path in (inbound, submission, notebook, submission / "submission_secret.txt", f"/home/{alice}",
                 f"/home/{alice}/lab2/lab2.ipynb", hub.config.directory("source"),
                 hub.config.directory("source") / "lab2" / "lab2.ipynb", hub.config.directory("submitted"),
                 hub.config.directory("release"), hub.config.root / "gradebook.db", hub.config.root / "grades.csv"):
        outcome = probe(hub, bob, path)
        assert outcome == {"read": False, "error": "PermissionError"}, f"{bob} reading {path}: {outcome}"
    # what a student needs stays readable: course.toml (the kernel's profiles), the data, the released lab
    for path in (hub.config.path, hub.config.data_root / "MNIST" / "raw",
                 hub.config.exchange_root / hub.course_id / "outbound" / "lab2" / "lab2.ipynb"):
        assert probe(hub, bob, path)["read"], f"{bob} cannot read {path}"


def test_a_submission_under_another_students_name_is_not_collected(hub):
    alice, bob = pair(hub)
    if not any(p.name.startswith(f"{alice}+lab2+") for p in
               (hub.config.exchange_root / hub.course_id / "inbound").iterdir()):
        fetch_and_answer(hub, alice, ORIGINAL)
    # bob submits as alice, after her: nbgrader takes his claim as the folder name
    fetch_and_answer(hub, bob, FORGED, claim=alice)
    inbound = hub.config.exchange_root / hub.course_id / "inbound"
    claims = sorted(inbound.glob(f"{alice}+lab2+*"))
    owners = {p.owner() for p in claims}
    assert owners == {alice, bob}, f"the exchange holds alice's and bob's claims: {owners}"

    # the grader collects as formgrader does (the grader account, the service's settings)
    result = hub.run_as(hub.accounts.grader, [str(hub.layout.env.bin / "nbgrader"), "collect", "lab2",
                                              f"--student={alice}"])
    log = result.stdout + result.stderr
    assert "Not collected" in log and f"submitted by {bob}" in log, log[-3000:]
    collected = hub.config.directory("submitted") / alice / "lab2" / "lab2.ipynb"
    nb = nbformat.read(collected, as_version=4)
    answer = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_q1")
    assert answer == ORIGINAL, "alice's own submission is the one collected"
    assert not (hub.config.directory("submitted") / bob).exists(), "bob submitted nothing as himself"
    # and the collected copy is the grader's alone
    assert collected.stat().st_uid == hub.config.directory("submitted").stat().st_uid
    assert probe(hub, bob, collected) == {"read": False, "error": "PermissionError"}
