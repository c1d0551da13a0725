"""A part's settings: the thresholds its judge decides with, declared by the part, overridable in course.toml.

A part declares them as a frozen dataclass instance (``Part.settings``): its fields and their defaults
are the course's choice, its docstring and comments say why. An instructor overrides any of them in
course.toml, for one assignment and one graded cell::

    [assignments.lab2.settings.test_dropout_keep_rate]
    failure_probability = 1e-12

:func:`configured` gives the assignment with those values; the grader judges with it, and so does the
notebook's own ``check()`` where it finds the course's course.toml. An unknown grade id or setting, a
value of another type, or one the settings' own ``__post_init__`` refuses is a :class:`SettingError`
that names the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


class SettingError(ValueError):
    """A course.toml override a part cannot take; the message names the key."""


def _converted(key: str, default: Any, value: Any) -> Any:
    """``value`` as the type of the setting's default: a whole number for a number setting is fine, a bool
    is never a number, anything else must be of the default's type."""
    if isinstance(default, bool) or isinstance(value, bool):
        if type(value) is not type(default):
            raise SettingError(f"key '{key}' must be {type(default).__name__}, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if not isinstance(value, type(default)):
        raise SettingError(f"key '{key}' must be {type(default).__name__}, got {type(value).__name__} {value!r}")
    return value


def overridden(settings: Any, values: Mapping[str, Any], where: str) -> Any:
    """``settings`` (a dataclass instance) with ``values`` in place of its defaults; ``where`` is the
    course.toml table they come from (for messages)."""
    if not dataclasses.is_dataclass(settings):
        raise SettingError(f"table '{where}': this part has no settings to override")
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    changes = {}
    for name, value in values.items():
        if name not in fields:
            raise SettingError(f"key '{where}.{name}' is not a setting of this part (it has: {', '.join(fields)})")
        changes[name] = _converted(f"{where}.{name}", fields[name], value)
    try:
        return dataclasses.replace(settings, **changes)
    except (TypeError, ValueError) as refused:
        raise SettingError(f"table '{where}': {refused}") from None


def settings_of(part: Any) -> dict[str, Any]:
    """A part's settings as a plain table (empty when it has none)."""
    settings = getattr(part, "settings", None)
    return dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else {}


def configured(assignment: Any, overrides: Mapping[str, Mapping[str, Any]] | None) -> Any:
    """The assignment (a :class:`coursekit.partkit.part.Assignment`) with course.toml's overrides of its
    parts' settings (grade id -> {setting: value}, ``[assignments.<name>.settings.<grade id>]``)."""
    if not overrides:
        return assignment
    by_id = assignment.by_id
    for grade_id in overrides:
        if grade_id not in by_id:
            raise SettingError(f"table 'assignments.{assignment.name}.settings.{grade_id}': {assignment.name} has no "
                               f"autograded part {grade_id!r}")
    parts = tuple(
        dataclasses.replace(part, settings=overridden(part.settings, overrides[part.grade_id],
                                                      f"assignments.{assignment.name}.settings.{part.grade_id}"))
        if part.grade_id in overrides else part
        for part in assignment.parts)
    return dataclasses.replace(assignment, parts=parts)


def from_config(assignment: Any, config: Any) -> Any:
    """The assignment with the overrides course.toml (a :class:`coursekit.config.CourseConfig`) gives it."""
    table = config.assignments.get(assignment.name) if config is not None else None
    return configured(assignment, getattr(table, "settings", None))
