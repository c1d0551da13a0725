"""nbgrader's exchange on a machine shared by real users, and a collect that checks who submitted.

Permissions (nbgrader's own, from ``nbgrader.exchange.default``; created here ahead of time so that
they hold before the first release, and owned by the grader account):

* the exchange root: everyone may create in it (nbgrader asks for 0777), plus the sticky bit so
  that nobody removes or renames what another account made there;
* ``<course>/`` and ``<course>/outbound/`` 0755: everyone fetches the released assignment;
* ``<course>/inbound/`` 2733: students may add their submission but not list the folder, so nobody
  finds another student's (each submission's folder name ends in a random string);
* ``<course>/feedback/`` 0711: a student opens only the feedback file named by a hash of their own
  submission's secret.

nbgrader's ``submit`` leaves a submission open to everyone (its folder 0777, files 0644): only the
random end of its folder name keeps it from other students, and whoever learns the name can read it,
including the secret that names the student's feedback file. :class:`PrivateSubmit` closes the
folder to the course's group: the inbound folder's set-group-id bit gives every new submission folder
the grader account's group, so 0770 lets the student and the grader in (the grader may remove it, as
nbgrader intends) and nobody else. The students' and staff's nbgrader submit with it.

nbgrader's ``collect`` compares the Unix owner of each submission with the student id in its name,
but only warns (0.9.6: "cheating attempt?") and collects it anyway. :class:`OwnerCheckedCollect`
refuses it instead: a submission made under another student's id is never collected, and the
student's own latest submission is collected as if the forgery were not there. The hub's formgrader
uses it (``ExchangeFactory.collect``, :mod:`coursekit.hub.hubconfig`).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit

from coursekit.config import CourseConfig

ROOT_MODE = 0o1777
COURSE_MODE = 0o755
OUTBOUND_MODE = 0o755
INBOUND_MODE = 0o2733
FEEDBACK_MODE = 0o711
SUBMISSION_MODE = 0o770
FORGED = "coursekit_claimed"  # the key marking a record whose owner is not the student it names


def course_folders(config: CourseConfig) -> dict[Path, int]:
    """The course's folders in the exchange and nbgrader's mode for each."""
    course = config.exchange_root / config.course_id
    return {course: COURSE_MODE, course / "outbound": OUTBOUND_MODE, course / "inbound": INBOUND_MODE,
            course / "feedback": FEEDBACK_MODE}


def prepare_exchange(config: CourseConfig, grader: str) -> None:
    """Create the exchange root (root's, 1777) and the course's folders (the grader's, nbgrader's modes)."""
    root = config.exchange_root
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    os.chmod(root, ROOT_MODE)
    entry = pwd.getpwnam(grader)
    for folder, mode in course_folders(config).items():
        folder.mkdir(exist_ok=True)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        os.chmod(folder, mode)


def owner_of(path: str) -> str:
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's collect, but a submission is collected only when its Unix owner is the student it names."""

    def _path_to_record(self, path):
        record = super()._path_to_record(path)
        owner = owner_of(path)
        if owner != record["username"]:
            # Group it apart from the student's own submissions, so that it is neither collected nor
            # hides the student's genuine latest one; init_src drops it.
            record[FORGED] = record["username"]
            record["username"] = f"{record['username']} (submitted by {owner})"
        return record

    def init_src(self):
        super().init_src()
        kept = []
        for record in self.src_records:
            if FORGED in record:
                self.log.error("Not collected: %s names the student '%s' but was submitted by another account "
                               "(%s).", record["filename"], record[FORGED], record["username"])
            else:
                kept.append(record)
        self.src_records = kept



class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, then the submission's folder closed to everyone but its owner and the grader's group."""

    def copy_files(self):
        super().copy_files()
        top = os.path.join(self.inbound_path, self.assignment_filename)
        if os.stat(top).st_gid == os.stat(self.inbound_path).st_gid:
            os.chmod(top, SUBMISSION_MODE)
        else:  # the inbound folder lost its set-group-id bit: 0770 would shut the grader out too
            self.log.warning("%s does not have the inbound folder's group; it stays readable by everyone.", top)
