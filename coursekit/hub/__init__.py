"""The course on a JupyterHub on one machine: students, TAs and the instructor as real Unix users.

``python -m coursekit hub setup|start|stop|status`` (see :mod:`coursekit.hub.commands`), driven by
course.toml's ``[hub]`` section. One concept per module:

* :mod:`~coursekit.hub.roster` reads the class list (a CSV of student ids) and checks every id;
* :mod:`~coursekit.hub.accounts` names the course's accounts and creates them as Unix users;
* :mod:`~coursekit.hub.userenv` gives those users a Python they can run (the course's venv, moved
  onto a system interpreter when the venv's own lives in a private folder);
* :mod:`~coursekit.hub.coursefolder` makes the course folder the grader account's, private where nbgrader
  keeps solutions, submissions and grades;
* :mod:`~coursekit.hub.exchange` gives nbgrader's exchange the permissions nbgrader documents and
  collects only submissions whose Unix owner is the student they claim to be from;
* :mod:`~coursekit.hub.hubconfig` writes jupyterhub_config.py and each role's Jupyter settings;
* :mod:`~coursekit.hub.process` checks the proxy and the ports, and starts and stops the hub;
* :mod:`~coursekit.hub.deploy` is ``hub setup``: every check first, then every change.
"""


class HubError(Exception):
    """The hub cannot be set up, started or stopped; the message says why and what to do."""
