"""The grading page's HTTP handlers, on the Jupyter server that runs formgrader.

    GET  …/coursekit/handgrade                           the hand-graded questions and their progress
    GET  …/coursekit/handgrade/<assignment>/<question>   the grading page of one question
    GET  …/coursekit/handgrade/api/<a>/<q>               the question's board (JSON)
    POST …/coursekit/handgrade/api/<a>/<q>/grade         {decisions: [{student, version}], ticked: [ids], comment}
    POST …/coursekit/handgrade/api/<a>/<q>/points        {item, points, rubric_version}

Every handler needs the server's login (token or hub), and a POST the server's XSRF cookie, like
formgrader's own API. A refused request answers JSON ``{"error": "..."}``: 400 for bad input, 404
for an unknown assignment or question, 409 when the page is stale (nothing was written).
"""

from __future__ import annotations

import json

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from coursekit.config import ConfigError, CourseConfig
from coursekit.handgrade.board import progress, question_board
from coursekit.handgrade.gradebook import Decision, GradeMissing, StaleGrade, rescore, write_grades
from coursekit.handgrade.page import index_page, question_page
from coursekit.handgrade.rubric import RubricError, StaleRubric, load_current_rubric, set_item_points

PREFIX = "coursekit/handgrade"


class _Base(JupyterHandler):
    @property
    def course(self) -> CourseConfig:
        return self.settings["coursekit_handgrade_config"]

    @property
    def page_base(self) -> str:
        return self.base_url.rstrip("/") + "/" + PREFIX

    def fail(self, status: int, message: str, **extra) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, **extra}, ensure_ascii=False))

    def reply(self, data: dict) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    def known(self, assignment: str, question: str) -> bool:
        """Answer 404 unless the course has this assignment and hand-graded question."""
        try:
            load_current_rubric(self.course, assignment, question)
        except (ConfigError, RubricError) as err:
            self.fail(404, str(err))
            return False
        return True

    def body(self) -> dict | None:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.fail(400, "the request body must be a JSON object")
            return None
        return data


class IndexHandler(_Base):
    @web.authenticated
    def get(self):
        self.finish(index_page(self.page_base, progress(self.course)))


class PageHandler(_Base):
    @web.authenticated
    def get(self, assignment: str, question: str):
        if not self.known(assignment, question):
            return
        self.xsrf_token  # sets the _xsrf cookie the page's POSTs send back (tornado's XSRF check)
        self.finish(question_page(self.page_base, assignment, question, progress(self.course)))


class BoardHandler(_Base):
    @web.authenticated
    def get(self, assignment: str, question: str):
        if self.known(assignment, question):
            self.reply(question_board(self.course, assignment, question))


class GradeHandler(_Base):
    @web.authenticated
    def post(self, assignment: str, question: str):
        if not self.known(assignment, question):
            return
        data = self.body()
        if data is None:
            return
        decisions, ticked, comment = data.get("decisions"), data.get("ticked", []), data.get("comment", "")
        if (not isinstance(decisions, list) or not decisions
                or not all(isinstance(d, dict) and isinstance(d.get("student"), str) and isinstance(d.get("version"), str)
                           for d in decisions)):
            return self.fail(400, "decisions must be a non-empty list of {student, version}")
        if not isinstance(ticked, list) or not all(isinstance(i, str) for i in ticked) or not isinstance(comment, str):
            return self.fail(400, "ticked must be a list of item ids and comment a string")
        rubric = load_current_rubric(self.course, assignment, question)
        try:
            written = write_grades(self.course, rubric, [Decision(d["student"], d["version"]) for d in decisions],
                                   set(ticked), comment)
        except StaleGrade as err:
            return self.fail(409, str(err), students=err.students)
        except (GradeMissing, RubricError) as err:
            return self.fail(400, str(err))
        self.log.info("handgrade: %s %s: %d answers -> %g points", assignment, question,
                      len(written.versions), written.score)
        self.reply({"versions": written.versions, "score": written.score})


class PointsHandler(_Base):
    @web.authenticated
    def post(self, assignment: str, question: str):
        if not self.known(assignment, question):
            return
        data = self.body()
        if data is None:
            return
        item, points, expected = data.get("item"), data.get("points"), data.get("rubric_version")
        if not isinstance(item, str) or not isinstance(expected, str) or isinstance(points, bool) \
                or not isinstance(points, (int, float)):
            return self.fail(400, "item and rubric_version must be strings and points a number")
        old = load_current_rubric(self.course, assignment, question)
        try:
            new = set_item_points(self.course, assignment, question, item, float(points), expected)
        except StaleRubric as err:
            return self.fail(409, str(err))
        except RubricError as err:
            return self.fail(400, str(err))
        done = rescore(self.course, old, new, item)
        message = (f"评分项 {item} 改为 {new.item(item).points:g} 分：重新计分 {len(done.rescored)} 份有这一项的答案"
                   f"（另有 {len(done.rewritten)} 份答案的评语已更新）")
        if done.kept:
            message += f"；{len(done.kept)} 份答案的分数在 formgrader 中改过，没有动"
        self.log.info("handgrade: %s %s: %s", assignment, question, message)
        self.reply({"message": message, "rescored": done.rescored, "rewritten": done.rewritten, "kept": done.kept,
                    "rubric_version": new.version})


def handlers(base_url: str) -> list[tuple[str, type]]:
    from jupyter_server.utils import url_path_join
    root = url_path_join(base_url, PREFIX)
    name = r"([A-Za-z0-9_.\-]+)"
    return [(root, IndexHandler), (root + "/", IndexHandler),
            (url_path_join(root, "api", name, name, "grade"), GradeHandler),
            (url_path_join(root, "api", name, name, "points"), PointsHandler),
            (url_path_join(root, "api", name, name), BoardHandler),
            (url_path_join(root, name, name), PageHandler)]
