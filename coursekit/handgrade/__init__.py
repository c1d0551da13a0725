"""Hand grading by question: a page for TAs on the server that runs formgrader.

A TA picks a hand-graded question (a 思考题), sees every student's answer to it one screen at a
time, grouped by similarity, ticks rubric items and writes the grade into nbgrader's gradebook as
the cell's manual score and comment, so formgrader and the feedback show it.

* :mod:`~coursekit.handgrade.rubric` -- the rubric of a question, kept in the source notebook's model answer
* :mod:`~coursekit.handgrade.comments` -- a grade's ticked items as nbgrader's comment, and back
* :mod:`~coursekit.handgrade.answers` -- the students' answers, from nbgrader's autograded notebooks
* :mod:`~coursekit.handgrade.groups` -- answer groups (character n-gram TF-IDF, average linkage)
* :mod:`~coursekit.handgrade.gradebook` -- reading and writing grades, with stale-page refusal
* :mod:`~coursekit.handgrade.render` -- an answer as safe HTML with math as MathML
* :mod:`~coursekit.handgrade.board` -- one question's page data
* :mod:`~coursekit.handgrade.page`, :mod:`~coursekit.handgrade.handlers` -- the page and its HTTP API

As a Jupyter server extension (``coursekit.handgrade``), it serves ``<base url>/coursekit/handgrade``
and links it from formgrader's sidebar (:mod:`~coursekit.handgrade.formgrader_link`);
it reads course.toml as ``coursekit.config.load_config`` finds it ($COURSE_TOML, else upwards from
the server's working directory).
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "coursekit.handgrade"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from coursekit.config import ConfigError, load_config
    from coursekit.handgrade.handlers import PREFIX, handlers

    web_app = serverapp.web_app
    try:
        config = load_config()
    except ConfigError as err:
        serverapp.log.error("coursekit.handgrade: not started: %s", err)
        return
    web_app.settings["coursekit_handgrade_config"] = config
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("coursekit.handgrade: grading by question at %s%s (course %s)",
                       web_app.settings["base_url"], PREFIX, config.course_id)


async def _start_jupyter_server_extension(serverapp) -> None:
    """Once every extension is loaded (formgrader after this one): formgrader's sidebar links to the page."""
    from coursekit.handgrade.formgrader_link import add_link
    from coursekit.handgrade.handlers import PREFIX
    if "coursekit_handgrade_config" in serverapp.web_app.settings:
        add_link(serverapp.web_app.settings, PREFIX, serverapp.log)


# the name jupyter_server looked for before 2.0
load_jupyter_server_extension = _load_jupyter_server_extension
