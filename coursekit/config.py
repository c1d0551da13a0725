"""Read and check ``course.toml``, the single configuration of the course.

Everything that reads settings (``nbgrader_config.py``, the ``coursekit`` command, the
notebooks through :mod:`coursekit.partkit.profiles`) goes through :func:`load_config`. A file
with a syntax error, an unknown key, a missing key or a value of the wrong type raises
:class:`ConfigError` whose message names the file, the key and what was expected.

The file's tables are pydantic models (TOML's own types, no unknown keys); what each key must be is
its field's description, which the message quotes. The run profiles' own tables are the course's:
``[profiles] settings`` names their schema (``package.module:NAME``, a subclass of
:class:`ProfileBase`), imported when the file is loaded. A profile may name another as its ``base``
and state only what differs; :func:`load_config` merges it into its base before checking it.

This module also lists the environment variables the course reads (:data:`ENVIRONMENT`) and says
which extra of the package installs an optional module (:func:`require_extra`).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

# The environment variables the course reads, re-exported: coursekit/environment.py.
from coursekit.environment import (ENV_CONFIG, ENV_EXECUTION, ENV_LAB_TOKEN, ENV_MIRROR, ENV_PROFILE,  # noqa: F401
                                   ENV_SANDBOX, ENV_THREADS, ENVIRONMENT)

CONFIG_NAME = "course.toml"

PROFILE_NAMES = ("full", "cpu", "grading")
LATE_POLICIES = ("none", "zero")
HUB_AUTHENTICATORS = ("shared-password", "pam")
#: An account name on the hub: a Unix login name that nbgrader's exchange can carry in a file name
#: (no '+' or '*'), JupyterHub keeps as is (lower case) and useradd accepts.
ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
FEEDBACK_MODES = ("visible", "outcomes", "full")
COUNTING_POLICIES = ("last", "best")


class ConfigError(Exception):
    """course.toml cannot be used; the message says where and why."""


# The errors of a course's data hook and coursekit.partkit.profiles live here, in a module that does not import
# torch, so that the command line can catch them without paying torch's import for every command.
class DataError(Exception):
    """MNIST cannot be provided; the message says what is wrong and what to do."""


class ProfileError(ValueError):
    """An unknown profile name was asked for."""


# --- optional parts of the package ----------------------------------------------------
#: The modules that only an extra of the package installs (pyproject.toml), and which extra.
EXTRAS = {
    "distributed": "dask",
    "dask": "dask",
    "psycopg2": "hub",
    "jupyterhub": "hub",
    "copydetect": "similarity",
    "latex2mathml": "grading",
}


class MissingExtra(ConfigError, ImportError):
    """A module that an extra of the package installs is not installed. A ConfigError, so that the command
    line reports it in one line like any other reason the course cannot be used as configured."""


def missing_extra_message(module: str, purpose: str) -> str:
    """The one sentence that says which extra to install for `module`."""
    extra = EXTRAS.get(module.split(".")[0])
    install = f"pip install 'coursekit[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
    return (f"{purpose} needs the Python module '{module}', which is not installed here: {install} "
            f"(`make install` installs every extra).")


def require_extra(module: str, purpose: str) -> types.ModuleType:
    """`module`, imported; raise :class:`MissingExtra` naming the extra to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(missing_extra_message(module, purpose), name=module) from err


# --- the schema -----------------------------------------------------------------------
# Each table is a pydantic model. A field's description says what its value must be: the error
# message quotes it ("key 'grading.cell_timeout' must be a whole number of seconds, got ...").

class Table(BaseModel):
    """A table of course.toml: TOML's own types (neither "120" nor true is read as a number), no unknown keys.
    A course's profile schema builds its tables on this class too."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ProfileBase(Table):
    """What the engine reads of every run profile. ``[profiles] settings`` names a subclass of it that adds
    the course's own tables (its experiments' sizes, ...); without one, a profile holds just these two keys."""

    seed: int = Field(description="a whole number")
    threads: int = Field(description="a whole number (0 = torch's default)")


def _account(value: str) -> str:
    if not ACCOUNT_NAME.fullmatch(value):
        raise ValueError("not an account name")
    return value


Account = Annotated[str, AfterValidator(_account),
                    Field(description="an account name (a lower-case letter, then up to 31 lower-case letters, "
                                      "digits, '-' or '_')")]
Points = Annotated[int | float, Field(ge=0, description="a number of points >= 0")]
Setting = Annotated[int | float | bool | str, Field(description="a part's setting: a number, true/false or a string")]


class _CourseTable(Table):
    id: str = Field(description="a course id string")
    title: str = Field(description="a title string")
    source_directory: str = Field(description="a folder name")
    release_directory: str = Field(description="a folder name")
    submitted_directory: str = Field(description="a folder name")
    autograded_directory: str = Field(description="a folder name")
    feedback_directory: str = Field(description="a folder name")
    exchange_root: str = Field(description="a folder path")
    db_url: str = Field(description="a database URL such as sqlite:///gradebook.db")


class _AssignmentTable(Table):
    title: str = Field(description="a title string")
    notebook: str = Field(description="a notebook file name")
    due: AwareDatetime = Field(description="a TOML date-time with a time zone, e.g. 2026-12-14T23:59:00+08:00")
    points: dict[str, Points] = Field(min_length=1, description="a non-empty table of grade_id = points")
    parts: str = Field("", description="a reference 'package.module:NAME' to the assignment's parts "
                                       "(a coursekit.partkit.Assignment)")
    settings: dict[str, dict[str, Setting]] = Field(
        default_factory=dict, description="tables [assignments.NAME.settings.GRADE_ID] of a part's settings")


class _GradingTable(Table):
    late_policy: Literal[LATE_POLICIES] = Field(description=f"one of {', '.join(LATE_POLICIES)}")
    cell_timeout: int = Field(description="a whole number of seconds")
    memory_limit_mb: int = Field(description="a whole number of megabytes")
    workers: int = Field(description="a whole number (0 = one per CPU core)")
    show_hidden_tests: bool = Field(description="true or false")
    notebook_timeout: int = Field(description="a whole number of seconds")
    output_limit_kb: int = Field(description="a whole number of kilobytes")
    dask_scheduler: str = Field(description="a Dask scheduler address such as tcp://10.0.0.5:8786, or \"\" for none")
    reuse_experiments: bool = Field(True, description="true or false")
    experiment_store: str = Field("", description="a folder (relative to course.toml), or \"\" for the course's "
                                                  ".grading-cache/experiments")


class _SandboxTable(Table):
    enabled: bool = Field(description="true or false")
    max_processes: int = Field(description="a whole number of processes")
    max_file_mb: int = Field(description="a whole number of megabytes")
    tmp_mb: int = Field(description="a whole number of megabytes")


class _SimilarityTable(Table):
    threshold: float = Field(gt=0, le=1, description="a share of matched code in (0, 1], e.g. 0.95")
    min_match: int = Field(ge=1, description="at least 1 character of normalised code (a whole number)")
    noise: int = Field(ge=5, le=100, description="between 5 and 100 characters of normalised code (a whole number: "
                                                 "the k-gram length)")
    common_share: float = Field(0.15, gt=0, le=1, description="a share of the compared submissions in (0, 1], e.g. 0.15")
    sources: list[str] = Field(default_factory=list, description="an array of file paths relative to course.toml "
                                                                 "(known public code), e.g. [\"textbook.txt\"]")


class _ServiceTable(Table):
    before_deadline: Literal[FEEDBACK_MODES] = Field(description=f"one of {', '.join(FEEDBACK_MODES)}")
    counts: Literal[COUNTING_POLICIES] = Field(description=f"one of {', '.join(COUNTING_POLICIES)}")
    per_student_per_hour: int = Field(ge=1, description="a whole number of graded submissions, at least 1")
    per_student_total: int = Field(ge=1, description="a whole number of graded submissions, at least 1")
    poll_seconds: float = Field(ge=0.1, le=60, description="a number of seconds between 0.1 and 60")


class _DataTable(Table):
    root: str = Field(description="a folder path")
    mirror: str = Field(description="a folder path, or \"\" for none")


class _HubTable(Table):
    roster: str = Field(description="a CSV file of student ids (a column named id), relative to course.toml")
    instructor: Account
    tas: list[Account] = Field(description="an array of TA account names, e.g. [\"ta1\"] or []")
    ip: str = Field(description="the address the hub listens on, e.g. 127.0.0.1")
    port: int = Field(ge=1, le=65532, description="a TCP port from 1 to 65532 (the hub uses it and the next three)")
    state_dir: str = Field(description="a folder for the hub's own files, outside the course folder")
    authenticator: Literal[HUB_AUTHENTICATORS] = Field(description=f"one of {', '.join(HUB_AUTHENTICATORS)}")
    proxy: str = Field(description="the configurable-http-proxy command, or \"\" to find it")


_PROFILE_TABLE = "a table of the profile's settings"


class _ProfilesTable(Table):
    """[profiles]: the default, the schema of a profile's tables, and one table per profile (checked apart)."""

    default: Literal[("auto", *PROFILE_NAMES)] = Field(description=f"auto, {', '.join(PROFILE_NAMES[:-1])} or "
                                                                   f"{PROFILE_NAMES[-1]}")
    settings: str = Field("", description="a reference 'package.module:NAME' to the profiles' schema (a subclass "
                                          "of coursekit.config.ProfileBase), or \"\" for seed and threads only")
    full: dict[str, Any] = Field(description=_PROFILE_TABLE)
    cpu: dict[str, Any] = Field(description=_PROFILE_TABLE)
    grading: dict[str, Any] = Field(description=_PROFILE_TABLE)


assert tuple(name for name in _ProfilesTable.model_fields if name not in ("default", "settings")) == PROFILE_NAMES


class _CourseFile(Table):
    course: _CourseTable
    assignments: dict[str, _AssignmentTable] = Field(
        min_length=1, description="a table holding at least one [assignments.NAME] table")
    grading: _GradingTable
    sandbox: _SandboxTable
    similarity: _SimilarityTable
    service: _ServiceTable
    data: _DataTable
    profiles: _ProfilesTable
    hub: _HubTable | None = None  # optional


# --- error messages -------------------------------------------------------------------

def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table",
            list: "an array", _dt.datetime: "a date-time", _dt.date: "a date", _dt.time: "a time",
            }.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = value.isoformat() if isinstance(value, (_dt.datetime, _dt.date, _dt.time)) else repr(value)
    return f"{_type_name(value)} {text if len(text) <= 80 else text[:77] + '...'}"


def _unwrap(annotation: Any) -> tuple[Any, str | None]:
    """The type inside Annotated[...] and Optional[...], and the description Annotated gives it."""
    description = None
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Annotated:
            described = [m.description for m in args[1:] if isinstance(m, FieldInfo) and m.description]
            description = description or (described[-1] if described else None)
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation, description


def _is_table(annotation: Any) -> bool:
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or typing.get_origin(annotation) is dict


@dataclass(frozen=True)
class _Place:
    """Where a pydantic error points in the file: the dotted key, and what is known of the value there."""

    key: str
    annotation: Any = None
    description: str | None = None
    allowed: tuple[str, ...] = ()  # for a key its table does not have: the keys it has


def _place(model: type[BaseModel], loc: tuple, prefix: tuple[str, ...]) -> _Place:
    names = list(prefix)
    annotation: Any = model
    description = None
    for item in loc:
        inner, _ = _unwrap(annotation)
        origin = typing.get_origin(inner)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            fields = inner.model_fields
            if item not in fields:
                return _Place(".".join([*names, str(item)]), allowed=tuple(fields))
            names.append(item)
            annotation, description = fields[item].annotation, fields[item].description
        elif origin is dict:
            names.append(str(item))
            annotation, description = typing.get_args(inner)[1], None
        elif origin is list:  # an element: the array's key, the element's description (else the array's)
            annotation = typing.get_args(inner)[0]
        else:
            break  # past a value: the names of a union's members
    inner, inner_description = _unwrap(annotation)
    return _Place(".".join(names), inner, inner_description or description)


def _message(error: dict, model: type[BaseModel], path: Path, prefix: tuple[str, ...] = ()) -> str:
    """One line for pydantic's `error` about the table `model` found at `prefix` of the file."""
    place = _place(model, error["loc"], prefix)
    section = place.key.count(".") == 0
    if error["type"] == "extra_forbidden":
        if section:
            return f"{path}: unknown section '[{place.key}]'. Allowed: {', '.join(place.allowed)}."
        return f"{path}: unknown key '{place.key}'. Allowed here: {', '.join(sorted(place.allowed))}."
    if error["type"] == "missing":
        if section:
            return f"{path}: missing section '[{place.key}]'."
        return f"{path}: missing {'table' if _is_table(place.annotation) else 'key'} '{place.key}'."
    value = error.get("input")
    if _is_table(place.annotation) and not isinstance(value, dict):
        return f"{path}: '{place.key}' must be a table, got {_shown(value)}."
    if place.description:
        return f"{path}: key '{place.key}' must be {place.description}, got {_shown(value)}."
    return f"{path}: key '{place.key}': {error['msg']}, got {_shown(value)}."


def _validated(model: type[Table], data: Any, path: Path, prefix: tuple[str, ...] = (),
               where: typing.Callable[[tuple], tuple[str, ...]] | None = None) -> Any:
    """`data` checked against `model`; ConfigError for its first problem, an unknown key before any other (a
    misspelt key is also a missing one: the unknown one's message lists the keys allowed). `where` gives the
    prefix of the table that wrote the value an error points at (a profile's own table, or its base's)."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise ConfigError(_message(first, model, path, where(first["loc"]) if where else prefix)) from None


# --- run profiles: bases, overrides, the course's schema --------------------------------

def _merged(base: dict, override: dict) -> dict:
    """`override` laid over `base`: tables merge key by key, any other value (an array too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _chain(tables: dict[str, dict], name: str, path: Path) -> list[str]:
    """The profile, its base, its base's base, ..."""
    chain = [name]
    while "base" in tables[chain[-1]]:
        base, key = tables[chain[-1]]["base"], f"profiles.{chain[-1]}.base"
        others = [n for n in PROFILE_NAMES if n != chain[-1]]
        if not isinstance(base, str) or base not in others:
            raise ConfigError(f"{path}: key '{key}' must name another profile ({', '.join(others)}), "
                              f"got {_shown(base)}.")
        if base in chain:
            raise ConfigError(f"{path}: key '{key}' makes a circle of bases: {' -> '.join([*chain, base])}.")
        chain.append(base)
    return chain


def _writer(tables: dict[str, dict], chain: list[str], loc: tuple) -> str:
    """The first profile of `chain` whose own table holds the value at `loc` (else the profile itself)."""
    for name in chain:
        node: Any = tables[name]
        for item in loc:
            if isinstance(node, dict):
                if item not in node:
                    break
                node = node[item]
            elif isinstance(node, list) and isinstance(item, int) and item < len(node):
                node = node[item]
            else:
                return name  # reached the value: what is left names a union's member
        else:
            return name
    return chain[0]


def _settings_schema(reference: str, path: Path) -> type[ProfileBase]:
    """The model ``[profiles] settings`` names, imported."""
    if not reference:
        return ProfileBase
    module, _, name = reference.partition(":")
    expected = "a reference 'package.module:NAME' to a subclass of coursekit.config.ProfileBase"
    if not module or not name:
        raise ConfigError(f"{path}: key 'profiles.settings' must be {expected}, got {reference!r}.")
    try:
        schema = getattr(importlib.import_module(module), name)
    except ImportError as err:
        raise ConfigError(f"{path}: key 'profiles.settings' names {reference!r}, which cannot be imported: {err}.") \
            from None
    except AttributeError:
        raise ConfigError(f"{path}: key 'profiles.settings' names {reference!r}, but {module} has no {name}.") from None
    if not (isinstance(schema, type) and issubclass(schema, ProfileBase)):
        raise ConfigError(f"{path}: key 'profiles.settings' must be {expected}, got {reference!r} ({schema!r}).")
    return schema


def _profiles(raw: dict, settings: str, path: Path) -> dict[str, Profile]:
    """Each profile merged into its bases, checked against the course's schema."""
    schema = _settings_schema(settings, path)
    tables = {name: raw[name] for name in PROFILE_NAMES}
    profiles = {}
    for name in PROFILE_NAMES:
        chain = _chain(tables, name, path)
        merged: dict = {}
        for table in reversed(chain):
            merged = _merged(merged, {k: v for k, v in tables[table].items() if k != "base"})
        checked = _validated(schema, merged, path,
                             where=lambda loc, chain=chain: ("profiles", _writer(tables, chain, loc)))
        values = checked.model_dump()
        seed, threads = values.pop("seed"), values.pop("threads")
        profiles[name] = Profile(name=name, seed=seed, threads=threads, settings=values)
    return profiles


# --- typed views ----------------------------------------------------------------------

@dataclass(frozen=True)
class Assignment:
    """One assignment: its folder name under source/, due date, late policy and points."""

    name: str
    title: str
    notebook: str
    due: _dt.datetime
    points: dict[str, float]
    parts: str = ""  # "package.module:NAME" of its coursekit.partkit.Assignment; "" = graded by its test cells
    #: grade id -> {setting: value}: overrides of its part's settings (coursekit.partkit.settings)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_points(self) -> float:
        return float(sum(self.points.values()))


@dataclass(frozen=True)
class Profile:
    """One run profile (course.toml [profiles.NAME], merged with its base): the engine's seed and threads,
    and the course's own tables (``settings``), each also an attribute (``profile.dropout``)."""

    name: str
    seed: int
    threads: int
    settings: dict[str, Any] = field(default_factory=dict)  # table name -> its values, as the schema dumps them

    def __getattr__(self, key: str) -> Any:
        settings = self.__dict__.get("settings")  # (absent while a copy is being made)
        if settings is not None and key in settings:
            return settings[key]
        raise AttributeError(f"run profile {self.__dict__.get('name')!r} has no setting {key!r}")

    def replace(self, **changes: Any) -> Profile:
        """A copy with some of name, seed, threads and the settings' tables replaced."""
        own = {key: changes.pop(key) for key in ("name", "seed", "threads") if key in changes}
        unknown = sorted(set(changes) - set(self.settings))
        if unknown:
            raise TypeError(f"run profile {self.name!r} has no setting {', '.join(unknown)}")
        return replace(self, **own, settings={**self.settings, **changes})


@dataclass(frozen=True)
class Sandbox:
    """How a submission's kernel is confined while it is graded (course.toml [sandbox])."""

    enabled: bool
    max_processes: int
    max_file_mb: int
    tmp_mb: int


@dataclass(frozen=True)
class Similarity:
    """When the similarity report flags a pair (course.toml [similarity]; coursekit.grading.similarity)."""

    threshold: float = 0.95  # share of both answers' rare fingerprinted code that matched
    min_match: int = 150     # a pair, or one answer cell alone, flags only with this many characters matched on each side
    noise: int = 25          # the k-gram length, in characters of normalised code
    common_share: float = 0.15  # a k-gram in more than this share of the submissions (and in four or more) is common
    sources: tuple[str, ...] = ()  # files of known public code, relative to course.toml: their k-grams are common

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))


@dataclass(frozen=True)
class Hub:
    """The course on a JupyterHub on one machine (course.toml [hub]; coursekit.hub)."""

    roster: Path            # CSV of student ids
    instructor: str         # the instructor's account
    tas: tuple[str, ...]    # the TAs' accounts
    ip: str
    port: int               # the public port; port + 1, + 2, + 3 are the hub's API, the proxy's API, formgrader
    state_dir: Path         # the hub's database, secrets, logs and the users' Python
    authenticator: str      # shared-password (tests, workshops) or pam (the machine's passwords)
    proxy: str              # configurable-http-proxy's command, "" = search PATH and node_modules

    @property
    def staff(self) -> tuple[str, ...]:
        """The accounts that grade: the instructor, then the TAs."""
        return (self.instructor, *self.tas)


@dataclass(frozen=True)
class Service:
    """The grading service's policy (course.toml [service]; coursekit.service)."""

    before_deadline: str = "outcomes"  # what feedback shows before the due date: visible, outcomes or full
    counts: str = "last"               # which submission counts: the last one before the due date, or the best
    per_student_per_hour: int = 4      # graded submissions per student in any hour
    per_student_total: int = 20        # graded submissions per student in all
    poll_seconds: float = 2.0          # how often the exchange is looked at


@dataclass(frozen=True)
class CourseConfig:
    """The whole of course.toml, checked, with paths made absolute."""

    path: Path
    root: Path
    course_id: str
    title: str
    directories: dict[str, str]
    exchange_root: Path
    db_url: str
    assignments: dict[str, Assignment]
    late_policy: str
    cell_timeout: int
    memory_limit_mb: int
    workers: int
    show_hidden_tests: bool
    notebook_timeout: int
    output_limit_kb: int
    dask_scheduler: str
    reuse_experiments: bool
    experiment_store: Path | None  # None: the course's .grading-cache/experiments
    sandbox: Sandbox
    similarity: Similarity
    service: Service
    data_root: Path
    data_mirror: Path | None
    default_profile: str
    profiles: dict[str, Profile] = field(repr=False)
    hub: Hub | None = None  # None: course.toml has no [hub] section

    def assignment(self, name: str) -> Assignment:
        try:
            return self.assignments[name]
        except KeyError:
            raise ConfigError(
                f"{self.path}: no assignment named '{name}'; "
                f"known: {', '.join(self.assignments)}.") from None

    def directory(self, kind: str) -> Path:
        """Absolute path of nbgrader's folder `kind` (source, release, submitted, ...)."""
        return self.root / self.directories[kind]


def _hub(table: _HubTable, root: Path, path: Path) -> Hub:
    """The optional [hub] table (its keys checked already): no account twice, the state outside the course."""
    staff = (table.instructor, *table.tas)
    if len(set(staff)) != len(staff):
        raise ConfigError(f"{path}: 'hub.instructor' and 'hub.tas' name the same account twice: {', '.join(staff)}.")
    state_dir = (root / table.state_dir).resolve()
    if state_dir == root or root in state_dir.parents:
        raise ConfigError(f"{path}: key 'hub.state_dir' must be outside the course folder {root} (the grader "
                          f"account owns that folder; the hub's secrets and the Python it runs as root must not "
                          f"be there), got {table.state_dir!r}.")
    return Hub(roster=(root / table.roster).resolve(), instructor=table.instructor, tas=tuple(table.tas), ip=table.ip,
               port=table.port, state_dir=state_dir, authenticator=table.authenticator, proxy=table.proxy)


def _service(table: _ServiceTable, path: Path) -> Service:
    """The [service] table (its keys checked already): the total is at least the hourly number."""
    if table.per_student_total < table.per_student_per_hour:
        raise ConfigError(f"{path}: key 'service.per_student_total' ({table.per_student_total}) must be at least "
                          f"'service.per_student_per_hour' ({table.per_student_per_hour}).")
    return Service(**table.model_dump())


def find_config(start: Path | None = None) -> Path:
    """Locate course.toml: $COURSE_TOML, else upwards from `start` (the working directory),
    else upwards from this package (an editable install inside the course repository)."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_CONFIG}={env} does not name a file.")
        return path.resolve()
    starts = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parent]
    for origin in starts:
        for folder in (origin, *origin.parents):
            candidate = folder / CONFIG_NAME
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} found above {starts[0]}; run inside the course folder or set {ENV_CONFIG}.")


def load_config(path: str | os.PathLike | None = None) -> CourseConfig:
    """Read and check course.toml (found by :func:`find_config` when `path` is None)."""
    path = Path(path).resolve() if path is not None else find_config()
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}.") from None

    checked: _CourseFile = _validated(_CourseFile, raw, path)
    service = _service(checked.service, path)
    profiles = _profiles(raw["profiles"], checked.profiles.settings, path)
    assignments = {name: Assignment(name=name, **table.model_dump()) for name, table in checked.assignments.items()}

    root = path.parent
    course, grading, data = checked.course, checked.grading, checked.data
    # The environment's mirror is relative to the working directory, the file's to the file.
    env_mirror = os.environ.get(ENV_MIRROR)
    if env_mirror:
        mirror: Path | None = Path(env_mirror).expanduser().resolve()
    else:
        mirror = (root / data.mirror).resolve() if data.mirror else None
    return CourseConfig(
        path=path,
        root=root,
        course_id=course.id,
        title=course.title,
        directories={kind: getattr(course, f"{kind}_directory") for kind in
                     ("source", "release", "submitted", "autograded", "feedback")},
        exchange_root=(root / course.exchange_root).resolve(),
        db_url=course.db_url,
        assignments=assignments,
        late_policy=grading.late_policy,
        cell_timeout=grading.cell_timeout,
        memory_limit_mb=grading.memory_limit_mb,
        workers=grading.workers or max(1, (os.cpu_count() or 1) // max(1, profiles["grading"].threads)),
        show_hidden_tests=grading.show_hidden_tests,
        notebook_timeout=grading.notebook_timeout,
        output_limit_kb=grading.output_limit_kb,
        dask_scheduler=grading.dask_scheduler,
        reuse_experiments=grading.reuse_experiments,
        experiment_store=(root / grading.experiment_store).resolve() if grading.experiment_store else None,
        sandbox=Sandbox(**checked.sandbox.model_dump()),
        similarity=Similarity(**checked.similarity.model_dump()),
        service=service,
        data_root=(root / data.root).resolve(),
        data_mirror=mirror,
        default_profile=checked.profiles.default,
        profiles=profiles,
        hub=_hub(checked.hub, root, path) if checked.hub is not None else None,
    )
