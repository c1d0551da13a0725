"""A link to the grading-by-question page in formgrader's sidebar, under Manage Assignments, Manual
Grading and Manage Students, so that a TA who opens formgrader finds the page without knowing its address.

Formgrader renders its pages from its own Jinja environment (``nbgrader_jinja2_env`` in the server's
settings); every page extends ``base.tpl`` and fills its ``sidebar`` block, inside the sidebar's list.
That environment is given formgrader's ``base.tpl`` with one more item in that list, after the block,
so every page shows it. Formgrader is loaded after this extension, so the link is added when the
server starts its extensions; a server without formgrader (a student's), or a base.tpl of another shape, is left as it is.
"""

from __future__ import annotations

from jinja2 import BaseLoader, ChoiceLoader, DictLoader

SETTING = "nbgrader_jinja2_env"
LINK_ID = "coursekit-handgrade-link"
LABEL = "Grade 思考题 by question"
#: Where the sidebar's list ends in formgrader's base.tpl (nbgrader 0.9).
ANCHOR = "{%- endblock -%}\n        </ul>"


def patched_base(source: str, prefix: str) -> str | None:
    """formgrader's base.tpl with the link as the sidebar's last item; None when the list is not found."""
    if source.count(ANCHOR) != 1:
        return None
    item = f'<li role="presentation"><a id="{LINK_ID}" href="{{{{ base_url }}}}/{prefix}">{LABEL}</a></li>'
    return source.replace(ANCHOR, "{%- endblock -%}\n          " + item + "\n        </ul>")


def add_link(settings: dict, prefix: str, log) -> bool:
    """Give formgrader's environment in the server's `settings` the link; False when it cannot be added."""
    env = settings.get(SETTING)
    if env is None:
        return False
    loader: BaseLoader = env.loader
    if isinstance(loader, ChoiceLoader):  # added already
        return True
    source, _, _ = loader.get_source(env, "base.tpl")
    base = patched_base(source, prefix)
    if base is None:
        log.warning("coursekit.handgrade: formgrader's base.tpl has no sidebar list as expected; no link added")
        return False
    env.loader = ChoiceLoader([DictLoader({"base.tpl": base}), loader])
    if env.cache is not None:
        env.cache.clear()
    log.info("coursekit.handgrade: linked from formgrader's sidebar")
    return True
