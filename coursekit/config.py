"""Read and check ``course.toml``, the single configuration of the course.

Everything that reads settings (``nbgrader_config.py``, the ``coursekit`` command, the
notebooks through :mod:`coursekit.partkit.profiles`) goes through :func:`load_config`. A file
with a syntax error, an unknown key, a missing key or a value of the wrong type raises
:class:`ConfigError` whose message names the file, the key and what was expected.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "course.toml"
ENV_CONFIG = "COURSE_TOML"
ENV_MIRROR = "COURSE_DATA_MIRROR"
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


# --- the schema -----------------------------------------------------------------------
# A schema is a dict: key -> (python type(s), human description) for values, or a nested
# dict for tables. `_check` walks a parsed TOML document against it.

_COURSE = {
    "id": (str, "a course id string"),
    "title": (str, "a title string"),
    "source_directory": (str, "a folder name"),
    "release_directory": (str, "a folder name"),
    "submitted_directory": (str, "a folder name"),
    "autograded_directory": (str, "a folder name"),
    "feedback_directory": (str, "a folder name"),
    "exchange_root": (str, "a folder path"),
    "db_url": (str, "a database URL such as sqlite:///gradebook.db"),
}
_ASSIGNMENT = {
    "title": (str, "a title string"),
    "notebook": (str, "a notebook file name"),
    "due": (_dt.datetime, "a TOML date-time with time zone, e.g. 2026-12-14T23:59:00+08:00"),
    "points": "points",  # a table of grade_id -> number, checked separately
    "parts": (str, "a reference 'package.module:NAME' to the assignment's parts (a coursekit.partkit.Assignment)"),
}
#: Keys that may be left out (their default is the dataclass field's).
_OPTIONAL = {"parts"}
_GRADING = {
    "late_policy": (str, f"one of {', '.join(LATE_POLICIES)}"),
    "cell_timeout": (int, "a whole number of seconds"),
    "memory_limit_mb": (int, "a whole number of megabytes"),
    "workers": (int, "a whole number (0 = one per CPU core)"),
    "show_hidden_tests": (bool, "true or false"),
    "notebook_timeout": (int, "a whole number of seconds"),
    "output_limit_kb": (int, "a whole number of kilobytes"),
    "dask_scheduler": (str, "a Dask scheduler address such as tcp://10.0.0.5:8786, or \"\" for none"),
}
_SANDBOX = {
    "enabled": (bool, "true or false"),
    "max_processes": (int, "a whole number of processes"),
    "max_file_mb": (int, "a whole number of megabytes"),
    "tmp_mb": (int, "a whole number of megabytes"),
}
_SIMILARITY = {
    "threshold": ((int, float), "a share of matched code between 0 and 1, e.g. 0.95"),
    "min_match": (int, "a whole number of characters of normalised code"),
    "noise": (int, "a whole number of characters of normalised code (copydetect's k-gram length)"),
}
_SERVICE = {
    "before_deadline": (str, f"one of {', '.join(FEEDBACK_MODES)}"),
    "counts": (str, f"one of {', '.join(COUNTING_POLICIES)}"),
    "per_student_per_hour": (int, "a whole number of graded submissions"),
    "per_student_total": (int, "a whole number of graded submissions"),
    "poll_seconds": ((int, float), "a number of seconds"),
}
_DATA = {
    "root": (str, "a folder path"),
    "mirror": (str, "a folder path, or \"\" for none"),
}
_HUB = {
    "roster": (str, "a CSV file of student ids (a column named id), relative to course.toml"),
    "instructor": (str, "the instructor's account name"),
    "tas": (list, "an array of TA account names, e.g. [\"ta1\"] or []"),
    "ip": (str, "the address the hub listens on, e.g. 127.0.0.1"),
    "port": (int, "a TCP port (the hub also uses the next three for itself)"),
    "state_dir": (str, "a folder for the hub's own files, outside the course folder"),
    "authenticator": (str, f"one of {', '.join(HUB_AUTHENTICATORS)}"),
    "proxy": (str, "the configurable-http-proxy command, or \"\" to find it"),
}
_NUM = ((int, float), "a number")
_COUNT = (int, "a whole number")
_EXPERIMENTS = {
    "vanishing": {
        "num_layers": _COUNT, "num_hiddens": _COUNT, "num_train": _COUNT, "num_epochs": _COUNT,
        "batch_size": _COUNT, "lr": _NUM,
    },
    "relu_death": {
        "num_layers": _COUNT, "num_hiddens": _COUNT, "num_train": _COUNT, "num_epochs": _COUNT,
        "batch_size": _COUNT, "lr": _NUM,
    },
    "weight_decay": {
        "num_inputs": _COUNT, "num_train": _COUNT, "num_test": _COUNT, "noise": _NUM,
        "num_epochs": _COUNT, "batch_size": _COUNT, "lr": _NUM, "lambd": _NUM,
    },
    "dropout": {
        "num_train": _COUNT, "num_test": _COUNT, "num_epochs": _COUNT,
        "batch_size": _COUNT, "lr": _NUM, "dropout1": _NUM, "dropout2": _NUM,
        "num_evals": (int, "a whole number of evaluated epochs (0 = every epoch)"),
    },
}
# Sizes for the lecture notebooks in notebooks/, one table per profile.
_LECTURES = {
    "dropout": {
        "num_train": _COUNT, "num_test": _COUNT, "num_epochs": _COUNT, "batch_size": _COUNT,
        "lr": _NUM, "num_hiddens": _COUNT, "dropout1": _NUM, "dropout2": _NUM,
        "num_evals": (int, "a whole number of evaluated epochs (0 = every epoch)"),
        "num_mask_samples": _COUNT, "num_mc_samples": _COUNT, "num_mc_examples": _COUNT,
    },
    "sweep": {
        "ps": (list, "an array of dropout probabilities in [0, 1)"),
        "num_train": _COUNT, "num_test": _COUNT, "num_epochs": _COUNT, "batch_size": _COUNT,
        "lr": _NUM, "num_hiddens": _COUNT,
        "num_evals": (int, "a whole number of evaluated epochs (0 = every epoch)"),
    },
    "stability": {
        "num_layers": _COUNT, "num_hiddens": _COUNT, "num_examples": _COUNT, "small_std": _NUM,
        "num_steps": _COUNT, "lr": _NUM,
    },
}
_PROFILE = {"seed": _COUNT, "threads": (int, "a whole number (0 = torch's default)"), **_EXPERIMENTS,
            "lectures": _LECTURES}


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            dict: "a table", list: "an array"}.get(type(value), type(value).__name__)


def _check(table: dict, schema: dict, where: str, path: Path) -> None:
    """Check one TOML table against its schema, raising ConfigError on the first problem."""
    for key in table:
        if key not in schema:
            raise ConfigError(
                f"{path}: unknown key '{where}{key}'. Allowed here: {', '.join(sorted(schema))}.")
    for key, spec in schema.items():
        name = f"{where}{key}"
        if key not in table and key in _OPTIONAL:
            continue
        if key not in table:
            what = "table" if isinstance(spec, dict) else "key"
            raise ConfigError(f"{path}: missing {what} '{name}'.")
        value = table[key]
        if spec == "points":
            _check_points(value, name, path)
        elif isinstance(spec, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{name}' must be a table, got {_type_name(value)}.")
            _check(value, spec, name + ".", path)
        else:
            types, description = spec
            # bool is a subclass of int in Python; TOML keeps them apart, so do we.
            wrong_bool = isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
            if wrong_bool or not isinstance(value, types):
                raise ConfigError(
                    f"{path}: key '{name}' must be {description}, got {_type_name(value)} {value!r}.")


def _check_points(value: Any, name: str, path: Path) -> None:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{path}: '{name}' must be a non-empty table of grade_id = points.")
    for grade_id, points in value.items():
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise ConfigError(
                f"{path}: key '{name}.{grade_id}' must be a number of points >= 0, got {points!r}.")


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

    @property
    def total_points(self) -> float:
        return float(sum(self.points.values()))


@dataclass(frozen=True)
class Profile:
    """Sizes of the four experiments for one run profile (see course.toml)."""

    name: str
    seed: int
    threads: int
    vanishing: dict[str, Any]
    relu_death: dict[str, Any]
    weight_decay: dict[str, Any]
    dropout: dict[str, Any]
    lectures: dict[str, dict[str, Any]]  # sizes for the lecture notebooks in notebooks/


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

    threshold: float = 0.95  # share of both answers' fingerprinted code that matched
    min_match: int = 150     # one answer cell alone flags a pair only with this many characters matched on each side
    noise: int = 25          # copydetect's noise threshold: the k-gram length, in normalised characters


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


def _similarity(table: dict, path: Path) -> Similarity:
    """The [similarity] table, with its values' ranges checked (their types are checked already)."""
    threshold = float(table["threshold"])
    if not 0 < threshold <= 1:
        raise ConfigError(f"{path}: key 'similarity.threshold' must be a share of matched code in (0, 1], "
                          f"got {table['threshold']!r}.")
    if table["min_match"] < 1:
        raise ConfigError(f"{path}: key 'similarity.min_match' must be at least 1 character, "
                          f"got {table['min_match']!r}.")
    if not 5 <= table["noise"] <= 100:
        raise ConfigError(f"{path}: key 'similarity.noise' must be between 5 and 100 characters, "
                          f"got {table['noise']!r}.")
    return Similarity(threshold=threshold, min_match=table["min_match"], noise=table["noise"])


def _account(value: Any, name: str, path: Path) -> str:
    if not isinstance(value, str) or not ACCOUNT_NAME.fullmatch(value):
        raise ConfigError(f"{path}: key '{name}' must be an account name (a lower-case letter, then up to 31 "
                          f"lower-case letters, digits, '-' or '_'), got {value!r}.")
    return value


def _hub(table: Any, root: Path, path: Path) -> Hub:
    """The optional [hub] table, checked: types, account names, port range, where the state lives."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'hub' must be a table.")
    _check(table, _HUB, "hub.", path)
    instructor = _account(table["instructor"], "hub.instructor", path)
    tas = tuple(_account(ta, "hub.tas", path) for ta in table["tas"])
    staff = (instructor, *tas)
    if len(set(staff)) != len(staff):
        raise ConfigError(f"{path}: 'hub.instructor' and 'hub.tas' name the same account twice: {', '.join(staff)}.")
    if not 1 <= table["port"] <= 65532:
        raise ConfigError(f"{path}: key 'hub.port' must be a TCP port from 1 to 65532 (the hub uses it and the "
                          f"next three), got {table['port']!r}.")
    if table["authenticator"] not in HUB_AUTHENTICATORS:
        raise ConfigError(f"{path}: key 'hub.authenticator' must be one of {', '.join(HUB_AUTHENTICATORS)}, "
                          f"got {table['authenticator']!r}.")
    state_dir = (root / table["state_dir"]).resolve()
    if state_dir == root or root in state_dir.parents:
        raise ConfigError(f"{path}: key 'hub.state_dir' must be outside the course folder {root} (the grader "
                          f"account owns that folder; the hub's secrets and the Python it runs as root must not "
                          f"be there), got {table['state_dir']!r}.")
    return Hub(roster=(root / table["roster"]).resolve(), instructor=instructor, tas=tas, ip=table["ip"],
               port=table["port"], state_dir=state_dir, authenticator=table["authenticator"], proxy=table["proxy"])


def _service(table: dict, path: Path) -> Service:
    """The [service] table, with its values' choices and ranges checked (their types are checked already)."""
    for key, choices in (("before_deadline", FEEDBACK_MODES), ("counts", COUNTING_POLICIES)):
        if table[key] not in choices:
            raise ConfigError(f"{path}: key 'service.{key}' must be one of {', '.join(choices)}, got {table[key]!r}.")
    for key in ("per_student_per_hour", "per_student_total"):
        if table[key] < 1:
            raise ConfigError(f"{path}: key 'service.{key}' must be at least 1 graded submission, got {table[key]!r}.")
    if table["per_student_total"] < table["per_student_per_hour"]:
        raise ConfigError(f"{path}: key 'service.per_student_total' ({table['per_student_total']}) must be at least "
                          f"'service.per_student_per_hour' ({table['per_student_per_hour']}).")
    if not 0.1 <= table["poll_seconds"] <= 60:
        raise ConfigError(f"{path}: key 'service.poll_seconds' must be between 0.1 and 60 seconds, "
                          f"got {table['poll_seconds']!r}.")
    return Service(before_deadline=table["before_deadline"], counts=table["counts"],
                   per_student_per_hour=table["per_student_per_hour"],
                   per_student_total=table["per_student_total"], poll_seconds=float(table["poll_seconds"]))


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

    top = {"course": _COURSE, "assignments": None, "grading": _GRADING, "sandbox": _SANDBOX,
           "similarity": _SIMILARITY, "service": _SERVICE, "data": _DATA, "profiles": None}
    optional = {"hub": _HUB}
    for key in raw:
        if key in optional:
            continue
        if key not in top:
            raise ConfigError(f"{path}: unknown section '[{key}]'. Allowed: {', '.join([*top, *optional])}.")
    for key in top:
        if key not in raw:
            raise ConfigError(f"{path}: missing section '[{key}]'.")
    for key in ("course", "grading", "sandbox", "similarity", "service", "data"):
        if not isinstance(raw[key], dict):
            raise ConfigError(f"{path}: '{key}' must be a table.")
        _check(raw[key], top[key], key + ".", path)
    if raw["grading"]["late_policy"] not in LATE_POLICIES:
        raise ConfigError(f"{path}: key 'grading.late_policy' must be one of {', '.join(LATE_POLICIES)}, "
                          f"got {raw['grading']['late_policy']!r}.")
    similarity = _similarity(raw["similarity"], path)
    service = _service(raw["service"], path)

    assignments_raw = raw["assignments"]
    if not isinstance(assignments_raw, dict) or not assignments_raw:
        raise ConfigError(f"{path}: '[assignments]' must hold at least one [assignments.NAME] table.")
    assignments = {}
    for name, table in assignments_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: 'assignments.{name}' must be a table.")
        _check(table, _ASSIGNMENT, f"assignments.{name}.", path)
        if table["due"].tzinfo is None:
            raise ConfigError(f"{path}: key 'assignments.{name}.due' needs a time zone, e.g. +08:00.")
        assignments[name] = Assignment(name=name, **table)

    profiles_raw = raw["profiles"]
    if not isinstance(profiles_raw, dict):
        raise ConfigError(f"{path}: '[profiles]' must be a table.")
    _check(profiles_raw, {"default": (str, "auto, full, cpu or grading"),
                          **{name: _PROFILE for name in PROFILE_NAMES}}, "profiles.", path)
    default_profile = profiles_raw["default"]
    if default_profile not in ("auto", *PROFILE_NAMES):
        raise ConfigError(f"{path}: key 'profiles.default' must be auto, full, cpu or grading, "
                          f"got {default_profile!r}.")
    profiles = {name: Profile(name=name, **profiles_raw[name]) for name in PROFILE_NAMES}
    for profile in profiles.values():
        for key in ("dropout1", "dropout2"):
            p = profile.dropout[key]
            if not 0 <= p < 1:
                raise ConfigError(f"{path}: key 'profiles.{profile.name}.dropout.{key}' must be in [0, 1), got {p}.")
        for p in profile.lectures["sweep"]["ps"]:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
                raise ConfigError(f"{path}: key 'profiles.{profile.name}.lectures.sweep.ps' must hold "
                                  f"dropout probabilities in [0, 1), got {p!r}.")

    root = path.parent
    course, grading, data = raw["course"], raw["grading"], raw["data"]
    # The environment's mirror is relative to the working directory, the file's to the file.
    env_mirror = os.environ.get(ENV_MIRROR)
    if env_mirror:
        mirror: Path | None = Path(env_mirror).expanduser().resolve()
    else:
        mirror = (root / data["mirror"]).resolve() if data["mirror"] else None
    return CourseConfig(
        path=path,
        root=root,
        course_id=course["id"],
        title=course["title"],
        directories={kind: course[f"{kind}_directory"] for kind in
                     ("source", "release", "submitted", "autograded", "feedback")},
        exchange_root=(root / course["exchange_root"]).resolve(),
        db_url=course["db_url"],
        assignments=assignments,
        late_policy=grading["late_policy"],
        cell_timeout=grading["cell_timeout"],
        memory_limit_mb=grading["memory_limit_mb"],
        workers=grading["workers"] or max(1, (os.cpu_count() or 1) // max(1, profiles["grading"].threads)),
        show_hidden_tests=grading["show_hidden_tests"],
        notebook_timeout=grading["notebook_timeout"],
        output_limit_kb=grading["output_limit_kb"],
        dask_scheduler=grading["dask_scheduler"],
        sandbox=Sandbox(**raw["sandbox"]),
        similarity=similarity,
        service=service,
        data_root=(root / data["root"]).resolve(),
        data_mirror=mirror,
        default_profile=default_profile,
        profiles=profiles,
        hub=_hub(raw["hub"], root, path) if "hub" in raw else None,
    )
