"""Run profiles: grading under nbgrader, full on a GPU, cpu otherwise; explicit choices win."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.partkit.profiles import ProfileError, choose_device, is_grading, select_profile

CONFIG = load_config(Path(__file__).resolve().parents[2] / "course.toml")


@pytest.mark.parametrize("execution", ["autograde", "validate"])
def test_nbgrader_execution_selects_grading(execution):
    choice = select_profile(CONFIG, {"NBGRADER_EXECUTION": execution}, cuda_available=True)
    assert choice.profile.name == "grading"
    assert execution in choice.reason
    assert is_grading({"NBGRADER_EXECUTION": execution})


def test_automatic_choice_by_device():
    assert select_profile(CONFIG, {}, cuda_available=True).profile.name == "full"
    assert select_profile(CONFIG, {}, cuda_available=False).profile.name == "cpu"
    assert not is_grading({})
    assert choose_device(cuda_available=False).type == "cpu"
    assert choose_device(cuda_available=True).type == "cuda"


def test_environment_override_wins_over_everything():
    environ = {"COURSE_PROFILE": "cpu", "NBGRADER_EXECUTION": "autograde"}
    choice = select_profile(CONFIG, environ, cuda_available=True)
    assert choice.profile.name == "cpu"
    assert "COURSE_PROFILE=cpu" in choice.reason


def test_course_toml_default_wins_over_detection():
    config = dataclasses.replace(CONFIG, default_profile="full")
    assert select_profile(config, {"NBGRADER_EXECUTION": "autograde"}, cuda_available=False).profile.name == "full"
    # ...but the environment still wins over the file
    assert select_profile(config, {"COURSE_PROFILE": "grading"}, cuda_available=False).profile.name == "grading"


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ProfileError, match=r"unknown run profile 'huge' \(from COURSE_PROFILE=huge\); choose one of full, cpu, grading"):
        select_profile(CONFIG, {"COURSE_PROFILE": "huge"}, cuda_available=False)


def test_profile_numbers_come_from_course_toml():
    grading = CONFIG.profiles["grading"]
    full = CONFIG.profiles["full"]
    assert full.vanishing["num_train"] == 60000 and full.vanishing["num_epochs"] == 5  # the lab's own settings
    # ... except the dropout CNN: a part of MNIST at every scale, so that the network without dropout overfits
    assert grading.dropout["num_train"] < CONFIG.profiles["cpu"].dropout["num_train"] < full.dropout["num_train"] < 60000
    assert grading.vanishing["num_train"] < full.vanishing["num_train"]
    assert grading.weight_decay == {"num_inputs": 200, "num_train": 150, "num_test": 100, "noise": 0.1,
                                    "num_epochs": 100, "batch_size": 15, "lr": 0.02, "lambd": 1.0}
    assert grading.weight_decay == full.weight_decay   # the same small experiment at every scale
