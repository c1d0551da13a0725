"""Formgrader's sidebar links to the grading-by-question page, on every formgrader page."""

from __future__ import annotations

import logging

from jinja2 import Environment, FileSystemLoader

from coursekit.handgrade.formgrader_link import LINK_ID, add_link, patched_base

LOG = logging.getLogger("test")


def formgrader_env() -> Environment:
    from nbgrader.server_extensions.formgrader import handlers
    return Environment(loader=FileSystemLoader([handlers.template_path]))


def test_every_formgrader_page_links_to_the_page_once():
    env = formgrader_env()
    settings = {"nbgrader_jinja2_env": env}
    assert add_link(settings, "coursekit/handgrade", LOG) and add_link(settings, "coursekit/handgrade", LOG)
    values = dict(base_url="/services/dl-lab2", url_prefix="", windows=False, course_id="dl-lab2", exchange="",
                  exchange_missing=False, mathjax_url="")
    for name in ("manage_assignments.tpl", "gradebook_assignments.tpl", "manage_students.tpl"):
        html = env.get_template(name).render(**values)
        assert html.count(f'id="{LINK_ID}"') == 1, name
        assert 'href="/services/dl-lab2/coursekit/handgrade"' in html, name
        assert "Manage Students</a></li>" in html  # formgrader's own items are all still there


def test_a_server_without_formgrader_or_an_unknown_base_page_is_left_alone():
    assert not add_link({}, "coursekit/handgrade", LOG)
    assert patched_base("<ul>{% block sidebar %}{% endblock %}</ul>", "coursekit/handgrade") is None
