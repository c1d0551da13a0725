"""course.toml's reader: each kind of bad file gives one clear message naming the key; profiles merge into
their base; defaults; nbgrader reads the same values. The tests write their own small course.toml (and a small
profile schema), so that they say what the reader does, whatever the course's own settings are."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import importlib
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from coursekit import config as configmodule
from coursekit.config import ENVIRONMENT, PROFILE_NAMES, ConfigError, Profile, load_config
from coursekit.grading.nbgrader_settings import nbgrader_settings

ROOT = Path(__file__).resolve().parents[1]
COURSE_TOML = ROOT / "course.toml"

#: A profile schema of a made-up course: one table with a nested one and an array.
SCHEMA = '''
from pydantic import Field

from coursekit.config import ProfileBase, Table


class Data(Table):
    examples: int = Field(ge=1, description="a whole number of examples, at least 1")
    shuffle: bool = Field(description="true or false")


class Train(Table):
    epochs: int = Field(description="a whole number of epochs")
    lr: float = Field(description="a number")
    sizes: list[int] = Field(description="an array of whole numbers")
    data: Data


class Settings(ProfileBase):
    train: Train
'''
SCHEMA_MODULE = "course_toml_test_schema"

SMALL = f'''
[course]
id = "demo"
title = "A demo course"
source_directory = "source"
release_directory = "release"
submitted_directory = "submitted"
autograded_directory = "autograded"
feedback_directory = "feedback"
exchange_root = ".exchange"
db_url = "sqlite:///gradebook.db"

[assignments.hw1]
title = "Homework 1"
notebook = "hw1.ipynb"
due = 2026-12-14T23:59:00+08:00

[assignments.hw1.points]
test_a = 3
test_b = 2.5

[grading]
late_policy = "zero"
cell_timeout = 120
memory_limit_mb = 4096
workers = 3
show_hidden_tests = false
notebook_timeout = 600
output_limit_kb = 256
dask_scheduler = ""

[sandbox]
enabled = true
max_processes = 512
max_file_mb = 64
tmp_mb = 256

[similarity]
threshold = 0.95
min_match = 150
noise = 25

[service]
before_deadline = "outcomes"
counts = "last"
per_student_per_hour = 4
per_student_total = 20
poll_seconds = 2

[data]
root = "data"
mirror = ""

[profiles]
default = "auto"
settings = "{SCHEMA_MODULE}:Settings"

[profiles.full]
seed = 7
threads = 0
[profiles.full.train]
epochs = 10
lr = 0.5
sizes = [1, 2, 3]
[profiles.full.train.data]
examples = 1000
shuffle = true

[profiles.cpu]
base = "full"
threads = 2
[profiles.cpu.train]
epochs = 3

[profiles.grading]
base = "cpu"
threads = 1
[profiles.grading.train]
sizes = [4]
[profiles.grading.train.data]
examples = 10
'''

HUB = '''
[hub]
roster = "roster.csv"
instructor = "instructor"
tas = ["ta1"]
ip = "127.0.0.1"
port = 8000
state_dir = "/var/lib/coursekit-hub/demo"
authenticator = "shared-password"
proxy = ""
'''


@pytest.fixture
def course(tmp_path, monkeypatch):
    """write(old, new, ...) -> the small course.toml with each textual change applied (each must apply once)."""
    (tmp_path / f"{SCHEMA_MODULE}.py").write_text(SCHEMA, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)

    def write(*changes: str, text: str = SMALL) -> Path:
        for old, new in zip(changes[::2], changes[1::2], strict=True):
            assert text.count(old) == 1, f"test setup: {old!r} occurs {text.count(old)} times"
            text = text.replace(old, new)
        path = tmp_path / "course.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    assert "\n" not in message.strip(), "one line, no traceback"
    return message


# --- what a good file gives -------------------------------------------------------------

def test_a_small_course_loads_with_its_defaults(course):
    path = course()
    config = load_config(path)
    assert (config.path, config.root, config.course_id) == (path, path.parent, "demo")
    hw1 = config.assignment("hw1")
    assert hw1.parts == "", "parts may be left out"
    assert hw1.points == {"test_a": 3, "test_b": 2.5} and type(hw1.points["test_a"]) is int
    assert hw1.total_points == 5.5
    assert hw1.due.utcoffset() == dt.timedelta(hours=8)
    assert config.hub is None, "[hub] may be left out"
    assert config.data_mirror is None and config.data_root == path.parent / "data"
    assert config.directory("source") == path.parent / "source"
    assert config.similarity == configmodule.Similarity()
    assert config.service == configmodule.Service(), "the file's values are the service's defaults"
    assert config.service.poll_seconds == 2.0 and isinstance(config.service.poll_seconds, float)
    assert (config.workers, config.default_profile) == (3, "auto")
    assert (config.reuse_experiments, config.experiment_store) == (True, None), "the course's own cache folder"
    with pytest.raises(ConfigError, match=r"no assignment named 'hw2'; known: hw1"):
        config.assignment("hw2")


def test_an_experiment_store_is_a_folder_relative_to_course_toml(course):
    path = course('dask_scheduler = ""', 'dask_scheduler = ""\nexperiment_store = "../shared-experiments"')
    assert load_config(path).experiment_store == (path.parent.parent / "shared-experiments").resolve()


def test_workers_zero_fills_the_cores_at_the_grading_profiles_threads(course, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    config = load_config(course("workers = 3", "workers = 0", "base = \"cpu\"\nthreads = 1", "base = \"cpu\"\nthreads = 2"))
    assert config.workers == 4


def test_a_profile_states_only_what_differs_from_its_base(course):
    profiles = load_config(course()).profiles
    assert list(profiles) == list(PROFILE_NAMES)
    full, cpu, grading = (profiles[name] for name in PROFILE_NAMES)
    assert full.train == {"epochs": 10, "lr": 0.5, "sizes": [1, 2, 3], "data": {"examples": 1000, "shuffle": True}}
    # cpu: its own threads and epochs, the rest from full
    assert (cpu.name, cpu.seed, cpu.threads) == ("cpu", 7, 2)
    assert cpu.train == {**full.train, "epochs": 3}
    # grading: based on cpu, itself based on full; a nested table merges key by key, an array is replaced whole
    assert (grading.seed, grading.threads) == (7, 1)
    assert grading.train == {"epochs": 3, "lr": 0.5, "sizes": [4], "data": {"examples": 10, "shuffle": True}}
    assert grading.settings == {"train": grading.train}
    assert full.train["data"]["examples"] == 1000, "merging leaves the base as it was"


def test_the_schema_converts_as_it_says(course):
    """A float field takes a TOML integer as a float; keys come in the schema's order, whatever the file's."""
    profile = load_config(course("lr = 0.5\nsizes = [1, 2, 3]", "sizes = [1, 2, 3]\nlr = 1")).profiles["full"]
    assert profile.train["lr"] == 1.0 and isinstance(profile.train["lr"], float)
    assert list(profile.train) == ["epochs", "lr", "sizes", "data"]


def test_without_a_schema_a_profile_holds_seed_and_threads_only(course):
    text = SMALL[:SMALL.index("[profiles]")] + textwrap.dedent('''
        [profiles]
        default = "cpu"
        [profiles.full]
        seed = 1
        threads = 0
        [profiles.cpu]
        base = "full"
        [profiles.grading]
        seed = 2
        threads = 1
        ''')
    config = load_config(course(text=text))
    assert config.default_profile == "cpu"
    assert [(p.name, p.seed, p.threads, p.settings) for p in config.profiles.values()] == [
        ("full", 1, 0, {}), ("cpu", 1, 0, {}), ("grading", 2, 1, {})]
    path = course("[profiles.cpu]\nbase = \"full\"", "[profiles.cpu]\nbase = \"full\"\n[profiles.cpu.train]\nepochs = 1",
                  text=text)
    assert re.search(r"unknown key 'profiles\.cpu\.train'\. Allowed here: seed, threads", problem(path))


def test_a_profile_is_a_copy_with_changes_and_its_tables_are_attributes(course):
    grading = load_config(course()).profiles["grading"]
    changed = grading.replace(seed=3, train={**grading.train, "epochs": 1})
    assert (changed.seed, changed.train["epochs"], changed.threads) == (3, 1, 1)
    assert grading.seed == 7 and grading.train["epochs"] == 3
    assert dataclasses.replace(grading, seed=4).seed == 4
    with pytest.raises(TypeError, match="no setting test"):
        grading.replace(test={})
    with pytest.raises(AttributeError, match="'grading' has no setting 'dropout'"):
        grading.dropout  # noqa: B018
    assert Profile("p", 0, 0).settings == {}


# --- bad files: one line naming the file, the key and what was expected --------------------

@pytest.mark.parametrize("old, new, expected", [
    ('id = "demo"', 'id = "demo', r"not valid TOML"),
    ('cell_timeout = 120', 'cell_timeout = 120\ncolour = "blue"',
     r"unknown key 'grading\.colour'\. Allowed here: cell_timeout, dask_scheduler, experiment_store, late_policy"),
    ('cell_timeout = 120', 'cell_timeout = "120"',
     r"key 'grading\.cell_timeout' must be a whole number of seconds, got a string '120'"),
    ('show_hidden_tests = false', 'show_hidden_tests = 1',
     r"key 'grading\.show_hidden_tests' must be true or false, got an integer 1"),
    ('workers = 3', 'workers = true', r"key 'grading\.workers' must be a whole number .*got a boolean True"),
    ('late_policy = "zero"', 'late_policy = "half"', r"key 'grading\.late_policy' must be one of none, zero, got a string 'half'"),
    ('default = "auto"', 'default = "gpu"', r"key 'profiles\.default' must be auto, full, cpu or grading"),
    ('due = 2026-12-14T23:59:00+08:00', 'due = 2026-12-14T23:59:00',
     r"key 'assignments\.hw1\.due' must be a TOML date-time with a time zone"),
    ('test_a = 3', 'test_a = "six"', r"key 'assignments\.hw1\.points\.test_a' must be a number of points >= 0"),
    ('test_a = 3', 'test_a = -1', r"key 'assignments\.hw1\.points\.test_a' must be a number of points >= 0, got an integer -1"),
    ('[data]\nroot = "data"', '[dataset]\nroot = "data"', r"unknown section '\[dataset\]'\. Allowed: course, assignments"),
    ('before_deadline = "outcomes"', 'before_deadline = "scores"',
     r"key 'service\.before_deadline' must be one of visible, outcomes, full, got a string 'scores'"),
    ('per_student_per_hour = 4', 'per_student_per_hour = 0', r"key 'service\.per_student_per_hour' must be .*at least 1"),
    ('per_student_per_hour = 4', 'per_student_per_hour = 2.5',
     r"key 'service\.per_student_per_hour' must be a whole number of graded submissions.*got a number 2\.5"),
    ('per_student_total = 20', 'per_student_total = 3',
     r"key 'service\.per_student_total' \(3\) must be at least 'service\.per_student_per_hour' \(4\)"),
    ('poll_seconds = 2', 'poll_seconds = 0', r"key 'service\.poll_seconds' must be a number of seconds between 0\.1 and 60"),
    ('counts = "last"', 'counts = "last"\nqueue = "redis"', r"unknown key 'service\.queue'"),
    ("test_b = 2.5\n", "test_b = 2.5\n\n[assignments.hw1.settings.test_a]\nratio = [1]\n",
     r"key 'assignments\.hw1\.settings\.test_a\.ratio' must be"),
    ("threshold = 0.95", "threshold = 1.5", r"key 'similarity\.threshold' must be a share of matched code in \(0, 1\]"),
    ("min_match = 150", "min_match = 0", r"key 'similarity\.min_match' must be at least 1 character"),
    ("noise = 25", "noise = 2", r"key 'similarity\.noise' must be between 5 and 100 characters"),
    # a profile's tables: the course's schema, the key named where the file writes it
    ('epochs = 10', 'epochs = "ten"', r"key 'profiles\.full\.train\.epochs' must be a whole number of epochs, got a string"),
    ('lr = 0.5', 'lr = "fast"', r"key 'profiles\.full\.train\.lr' must be a number, got a string 'fast'"),
    ('[profiles.cpu.train]\nepochs = 3', '[profiles.cpu.train]\nepochs = 3.5',
     r"key 'profiles\.cpu\.train\.epochs' must be a whole number of epochs, got a number 3\.5"),
    ('[profiles.cpu.train]\nepochs = 3', '[profiles.cpu.train]\nepohcs = 3',
     r"unknown key 'profiles\.cpu\.train\.epohcs'\. Allowed here: data, epochs, lr, sizes"),
    ('examples = 10\n', 'examples = 0\n', r"key 'profiles\.grading\.train\.data\.examples' must be a whole number of examples, at least 1"),
    ('sizes = [4]', 'sizes = [4, "five"]', r"key 'profiles\.grading\.train\.sizes' must be an array of whole numbers, got a string 'five'"),
    ('sizes = [4]', 'sizes = 4', r"key 'profiles\.grading\.train\.sizes' must be an array of whole numbers, got an integer 4"),
    ('[profiles.cpu.train]\nepochs = 3', 'train = 3', r"'profiles\.cpu\.train' must be a table, got an integer 3"),
    ('[profiles.full]\nseed = 7\nthreads = 0', '[profiles.full]\nseed = 7', r"missing key 'profiles\.full\.threads'"),
    ('base = "full"\nthreads = 2', 'threads = 2', r"missing key 'profiles\.cpu\.seed'"),
    ('base = "full"', 'base = "gpu"', r"key 'profiles\.cpu\.base' must name another profile \(full, grading\), got a string 'gpu'"),
    ('base = "full"', 'base = "cpu"', r"key 'profiles\.cpu\.base' must name another profile"),
    ('base = "full"', 'base = "grading"', r"key 'profiles\.\w+\.base' makes a circle of bases: \w+ -> \w+ -> \w+"),
    (f'settings = "{SCHEMA_MODULE}:Settings"', 'settings = "Settings"',
     r"key 'profiles\.settings' must be a reference 'package\.module:NAME' to a subclass of coursekit\.config\.ProfileBase"),
    (f'settings = "{SCHEMA_MODULE}:Settings"', 'settings = "no_such_module_here:Settings"',
     r"key 'profiles\.settings' names 'no_such_module_here:Settings', which cannot be imported"),
    (f'settings = "{SCHEMA_MODULE}:Settings"', f'settings = "{SCHEMA_MODULE}:Nothing"', r"has no Nothing"),
    (f'settings = "{SCHEMA_MODULE}:Settings"', f'settings = "{SCHEMA_MODULE}:Data"', r"must be a reference .*ProfileBase"),
])
def test_bad_file_gives_one_clear_message(course, old, new, expected):
    message = problem(course(old, new))
    assert re.search(expected, message), message


def test_missing_section_key_and_table(course):
    assert "missing section '[grading]'" in problem(course(SMALL[SMALL.index("[grading]"):SMALL.index("[sandbox]")], ""))
    assert "missing key 'grading.memory_limit_mb'" in problem(course("memory_limit_mb = 4096", ""))
    assert "missing key 'service.per_student_total'" in problem(course("per_student_total = 20", ""))
    assert "missing table 'assignments.hw1.points'" in problem(course("[assignments.hw1.points]\ntest_a = 3\ntest_b = 2.5", ""))
    assert "missing table 'profiles.grading'" in problem(course(SMALL[SMALL.index("[profiles.grading]"):], ""))
    hw1 = SMALL[SMALL.index("[assignments.hw1]"):SMALL.index("[grading]")]
    assert re.search(r"key 'assignments' must be a table holding at least one \[assignments\.NAME\] table",
                     problem(course(hw1, "[assignments]\n\n")))


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_mirror_from_environment_overrides_file(course, tmp_path, monkeypatch):
    path = course('mirror = ""', 'mirror = "somewhere"')
    assert load_config(path).data_mirror == tmp_path / "somewhere", "relative to course.toml"
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    assert load_config(path).data_mirror == tmp_path / "mirror"


# --- [hub] ------------------------------------------------------------------------------

def test_hub_section(course):
    config = load_config(course(text=SMALL + HUB))
    hub = config.hub
    assert hub.roster == config.root / "roster.csv"
    assert hub.staff == ("instructor", "ta1") and isinstance(hub.tas, tuple)
    assert (hub.port, hub.ip, hub.authenticator) == (8000, "127.0.0.1", "shared-password")
    assert not hub.state_dir.is_relative_to(config.root)


@pytest.mark.parametrize("old, new, expected", [
    ('tas = ["ta1"]', 'tas = "ta1"', r"key 'hub\.tas' must be an array of TA account names.*got a string"),
    ('tas = ["ta1"]', 'tas = ["TA 1"]', r"key 'hub\.tas' must be an account name .*got a string 'TA 1'"),
    ('tas = ["ta1"]', 'tas = ["instructor"]', r"'hub\.instructor' and 'hub\.tas' name the same account twice"),
    ('instructor = "instructor"', 'instructor = "root+1"', r"key 'hub\.instructor' must be an account name"),
    ('port = 8000', 'port = 65534', r"key 'hub\.port' must be a TCP port from 1 to 65532"),
    ('port = 8000', 'port = "8000"', r"key 'hub\.port' must be a TCP port .*got a string"),
    ('authenticator = "shared-password"', 'authenticator = "github"', r"key 'hub\.authenticator' must be one of shared-password, pam"),
    ('state_dir = "/var/lib/coursekit-hub/demo"', 'state_dir = "hub-state"', r"key 'hub\.state_dir' must be outside the course folder"),
    ('proxy = ""', 'proxy = ""\nusers = 3', r"unknown key 'hub\.users'"),
])
def test_bad_hub_section_gives_one_clear_message(course, old, new, expected):
    message = problem(course(old, new, text=SMALL + HUB))
    assert re.search(expected, message), message


# --- the course's own file, and nbgrader ------------------------------------------------

def test_the_course_toml_gives_every_profile_the_tables_of_its_schema():
    """course.toml and the schema it names agree (whatever the values): every profile has each table."""
    config = load_config(COURSE_TOML)
    module, _, name = tomllib.loads(COURSE_TOML.read_text(encoding="utf-8"))["profiles"]["settings"].partition(":")
    schema = getattr(importlib.import_module(module), name)
    tables = set(schema.model_fields) - {"seed", "threads"}
    assert tables, "the course's schema adds its own tables"
    for profile in config.profiles.values():
        assert set(profile.settings) == tables, profile.name


def test_nbgrader_reads_the_same_values():
    """traitlets' loader (what nbgrader uses) run on nbgrader_config.py yields course.toml's values."""
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    config = load_config(COURSE_TOML)
    assert c.CourseDirectory.course_id == config.course_id
    assert c.CourseDirectory.root == str(ROOT)
    assert c.CourseDirectory.source_directory == config.directories["source"]
    assert c.CourseDirectory.release_directory == config.directories["release"]
    if config.db_url == "sqlite:///gradebook.db":
        assert c.CourseDirectory.db_url == f"sqlite:///{ROOT}/gradebook.db?timeout=120"  # parallel writers wait
    assert c.ExecutePreprocessor.timeout == config.cell_timeout
    assert c.Exchange.root == str(config.exchange_root)
    assert c.LateSubmissionPlugin.penalty_method == config.late_policy
    assert c.OverwriteCells.add_missing_cells is True
    assert set(nbgrader_settings(config)) == set(c.keys())


def test_nbgrader_stops_with_the_message_on_a_bad_file(course, tmp_path):
    """A broken course.toml stops plain nbgrader commands with the clear message, not a traceback."""
    (tmp_path / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    course('cell_timeout = 120', 'cell_timeout = "soon"')
    out = subprocess.run([sys.executable, "-m", "nbgrader", "list"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0
    assert "course.toml cannot be used" in out.stderr and "grading.cell_timeout" in out.stderr
    assert "Traceback" not in out.stderr


# --- the environment ----------------------------------------------------------------------

#: Variables the code reads that belong to other programs (the shell, Jupyter, matplotlib).
NOT_THE_COURSES = {"PATH", "JUPYTER_PATH", "MPLBACKEND"}


def environment_names_read(path: Path) -> set[str]:
    """The variables a file reads by a literal name (os.environ.get, getenv, os.environ[...]), and every literal that
    looks like one of the course's (COURSE_..., COURSEKIT_..., NBGRADER_...: set for a child process to read)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "getenv") \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            target = ast.unparse(node.func.value)
            if target in ("os", "os.environ") or target.endswith("env"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Constant) \
                and ast.unparse(node.value) in ("os.environ", "env", "request.env"):
            names.add(node.slice.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.fullmatch(r"(COURSE|COURSEKIT|NBGRADER)_[A-Z_]+", node.value):
            names.add(node.value)
    return names


def test_every_environment_variable_the_code_reads_is_in_the_table():
    constants = {value for name, value in vars(configmodule).items() if name.startswith("ENV_")}
    assert constants == set(ENVIRONMENT), "one constant per variable, each described"
    assert all(description.strip() for description in ENVIRONMENT.values())
    read = set().union(*(environment_names_read(p) for p in sorted((ROOT / "coursekit").rglob("*.py"))))
    read |= set().union(*(environment_names_read(p) for p in sorted((ROOT / "dlcourse").rglob("*.py"))))
    assert read - NOT_THE_COURSES <= set(ENVIRONMENT), sorted(read - NOT_THE_COURSES - set(ENVIRONMENT))
