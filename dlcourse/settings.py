"""The schema of the course's run profiles: what each ``[profiles.NAME]`` table of course.toml holds.

course.toml names it (``[profiles] settings = "dlcourse.settings:ProfileSettings"``);
:func:`coursekit.config.load_config` merges each profile into its ``base`` and checks the result
against :class:`ProfileSettings`. A profile's tables reach the code as plain dicts:
``session.profile.dropout["num_train"]``, ``session.profile.lectures["sweep"]["ps"]``.

A field's description says what its value must be; a bad value's message quotes it with the key's
name (``key 'profiles.cpu.dropout.lr' must be a number, got a string 'fast'``). The order of the
fields is the order the tables' values come in.

This module imports no torch: course.toml is read by every ``coursekit`` command.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from coursekit.config import ProfileBase, Table

Count = Annotated[int, Field(description="a whole number")]
Number = Annotated[float, Field(description="a number")]
Evals = Annotated[int, Field(description="a whole number of evaluated epochs (0 = every epoch)")]
Probability = Annotated[float, Field(ge=0, lt=1, description="a dropout probability in [0, 1)")]


# --- the lab's four experiments (dlcourse.experiments) ---------------------------------------

class DeepMLP(Table):
    """The MLP experiments on MNIST: gradient vanishing (sigmoid) and ReLU death (a large step)."""

    num_layers: Count
    num_hiddens: Count
    num_train: Count
    num_epochs: Count
    batch_size: Count
    lr: Number


class WeightDecay(Table):
    """Weight decay on a synthetic linear regression with more features than examples."""

    num_inputs: Count
    num_train: Count
    num_test: Count
    noise: Number
    num_epochs: Count
    batch_size: Count
    lr: Number
    lambd: Number


class DropoutExperiment(Table):
    """The dropout CNN on a part of MNIST."""

    num_train: Count
    num_test: Count
    num_epochs: Count
    batch_size: Count
    lr: Number
    dropout1: Probability
    dropout2: Probability
    num_evals: Evals


# --- the lecture notebooks (notebooks/, dlcourse.lectures) -----------------------------------

class DropoutLecture(Table):
    """notebooks/dropout.ipynb: the 784-256-256-10 MLP, from scratch and with nn.Dropout."""

    num_train: Count
    num_test: Count
    num_epochs: Count
    batch_size: Count
    lr: Number
    num_hiddens: Count
    dropout1: Probability
    dropout2: Probability
    num_evals: Evals
    num_mask_samples: Count
    num_mc_samples: Count
    num_mc_examples: Count


class SweepLecture(Table):
    """notebooks/dropout.ipynb: the same MLP trained at several dropout probabilities."""

    ps: list[Probability] = Field(description="an array of dropout probabilities in [0, 1)")
    num_train: Count
    num_test: Count
    num_epochs: Count
    batch_size: Count
    lr: Number
    num_hiddens: Count
    num_evals: Evals


class StabilityLecture(Table):
    """notebooks/numerical_stability.ipynb: per-layer variances of a deep MLP, the symmetry demo."""

    num_layers: Count
    num_hiddens: Count
    num_examples: Count
    small_std: Number
    num_steps: Count
    lr: Number


class Lectures(Table):
    dropout: DropoutLecture
    sweep: SweepLecture
    stability: StabilityLecture


class ProfileSettings(ProfileBase):
    """One run profile of the course: seed and threads (the engine's), then the experiments' and lectures' sizes."""

    vanishing: DeepMLP
    relu_death: DeepMLP
    weight_decay: WeightDecay
    dropout: DropoutExperiment
    lectures: Lectures
