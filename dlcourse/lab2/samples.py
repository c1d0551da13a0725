"""Lab 2's sample submissions: the demo's class, the golden variants whose marks grader_tests pin
(grader_tests/files/expected_scores.json), and each experiment's typical mistake. Each is the
instructor's notebook with some answers left out or edited (:class:`coursekit.partkit.samples.Sample`)."""

from __future__ import annotations

from coursekit.partkit.samples import Sample, chain, replace_once

#: The samples the demo grades.
DEMO_SAMPLES = (
    Sample("reference", "the instructor's answers everywhere"),
    Sample("blank", "the student version as released, nothing filled in", fill=frozenset()),
    Sample("partial", "correct activations, network and L2; dropout_layer forgets the 1/(1-p) scaling",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return mask * X")}),
)


#: experiment check -> (the typical mistake it must catch, the edits that plant it in the reference)
EXPERIMENT_MISTAKES = {
    "test_gradient_vanishing": ("forward without any activation", {
        "network": chain(replace_once("h = self.activation(self.input_layer(X))", "h = self.input_layer(X)"),
                         replace_once("h = self.activation(layer(h))", "h = layer(h)"))}),
    "test_relu_death": ("'ReLU' that never outputs 0 (absolute value)", {
        "activations": replace_once("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.abs()")}),
    "test_weight_decay": ("l2_penalty that always returns 0", {
        "l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "return torch.zeros((), dtype=w.dtype)")}),
    "test_dropout_experiment": ("dropout_layer that never drops (returns X)", {
        "dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return X")}),
}


#: Golden submissions for grader_tests: one planted bug per graded part. Their expected scores
#: are written by hand in grader_tests/files/expected_scores.json, never taken from the grader.
GOLDEN_SAMPLES = (
    Sample("relu_derivative_wrong", "MyReLU.derivative returns 1 for negative inputs too",
           edits={"activations": replace_once("return (x > 0).to(x.dtype)", "return torch.ones_like(x)")}),
    Sample("sigmoid_unstable", "MySigmoid computed as e^x / (1 + e^x): nan for large positive x",
           edits={"activations": replace_once("return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
                                              "return torch.exp(x) / (1 + torch.exp(x))")}),
    Sample("tanh_builtin", "MyTanh calls torch.tanh",
           edits={"activations": replace_once("return torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + z)",
                                              "return torch.tanh(x)")}),
    Sample("forward_skips_first_activation", "Network.forward applies no activation after the input layer",
           edits={"network": replace_once("h = self.activation(self.input_layer(X))", "h = self.input_layer(X)")}),
    Sample("dead_units_any", "dead_unit_fraction counts a unit as dead when it outputs 0 on any image",
           edits={"dead_units": replace_once(".all(dim=0)", ".any(dim=0)")}),
    Sample("l2_without_half", "l2_penalty returns the sum of squares without the 1/2",
           edits={"l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "return torch.sum(w.pow(2))")}),
    Sample("dropout_no_scaling", "dropout_layer forgets the 1/(1-p) scaling",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return mask * X")}),
    Sample("dropout_mutates_input", "dropout_layer multiplies X by the mask in place",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)",
                                                "X.mul_(mask)\n    return X / (1.0 - dropout)")}),
    Sample("dropout_fixed_mask", "dropout_layer draws the same mask on every call (fixed seed)",
           edits={"dropout_layer": replace_once(
               "mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)",
               "mask = (torch.rand(X.shape, generator=torch.Generator().manual_seed(0)) > dropout).to(X.dtype)"
               ".to(X.device)")}),
    # One unfinished TODO each, everything else correct: only that part and the experiments that run it are lost.
    Sample("unfinished_relu", "MyReLU left unfinished (both methods raise NotImplementedError)",
           edits={"activations": chain(replace_once("return torch.where(x > 0, x, torch.zeros_like(x))",
                                                    "raise NotImplementedError()"),
                                       replace_once("return (x > 0).to(x.dtype)", "raise NotImplementedError()"))}),
    Sample("unfinished_sigmoid", "MySigmoid left unfinished",
           edits={"activations": chain(replace_once("z = torch.exp(-x.abs())  # 只对非正数求指数，不会溢出\n"
                                                    "        return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
                                                    "raise NotImplementedError()"),
                                       replace_once("s = self(x)\n        return s * (1 - s)",
                                                    "raise NotImplementedError()"))}),
    Sample("unfinished_tanh", "MyTanh left unfinished",
           edits={"activations": chain(replace_once("z = torch.exp(-2 * x.abs())\n"
                                                    "        return torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + z)",
                                                    "raise NotImplementedError()"),
                                       replace_once("t = self(x)\n        return 1 - t * t",
                                                    "raise NotImplementedError()"))}),
    Sample("unfinished_forward", "Network.forward left unfinished",
           edits={"network": replace_once("h = self.activation(self.input_layer(X))\n"
                                          "        for layer in self.layers:\n"
                                          "            h = self.activation(layer(h))\n"
                                          "        return self.output_layer(h)", "raise NotImplementedError()")}),
    Sample("unfinished_dead_units", "dead_unit_fraction left unfinished",
           edits={"dead_units": replace_once("return (H == 0).all(dim=0).float().mean()", "raise NotImplementedError()")}),
    Sample("unfinished_l2", "l2_penalty left unfinished",
           edits={"l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "raise NotImplementedError()")}),
    Sample("unfinished_dropout", "dropout_layer left unfinished (the released stub)",
           fill=frozenset({"activations", "network", "dead_units", "l2_penalty", "answer_q1", "answer_q2", "answer_q3", "answer_q4",
                           "answer_q5"})),
)
