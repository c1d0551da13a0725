"""nbgrader's configuration, taken from course.toml (the course's one configuration file).

Plain `nbgrader ...` commands run from this folder and `python -m coursekit ...` therefore use
the same course id, folders, gradebook, exchange and time limits. Edit course.toml, not this file.
"""

import sys
from pathlib import Path

from coursekit.config import ConfigError, load_config
from coursekit.grading.nbgrader_settings import nbgrader_settings

try:
    _course = load_config(Path(__file__).resolve().parent / "course.toml")
except ConfigError as err:
    sys.exit(f"course.toml cannot be used: {err}")

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file
for _section, _values in nbgrader_settings(_course).items():
    for _key, _value in _values.items():
        setattr(getattr(c, _section), _key, _value)
