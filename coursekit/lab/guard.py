"""Inside the grading kernel: keep the tests' tools honest.

While nbgrader autogrades, the kernel runs the student's cells and the hidden tests in one
Python process, so a submission could replace what the tests rely on (``torch.allclose``,
``builtins.AssertionError``, ``__import__``, ``torch.manual_seed`` ...) or install IPython hooks
that swallow a failing test's error. The grader therefore

1. starts every grading kernel with :func:`install` (IPKernelApp.exec_lines, before any
   student cell), which records the original objects; and
2. before each instructor-written cell, asks the kernel for :func:`check_and_restore`, which
   puts every recorded object back and returns, as JSON, the list of what it had to restore.

The grader (``coursekit.grading.execute.GuardedExecute``, outside the kernel) fails every graded cell
after the first tampering it sees, with the list as the reason. Honest code never changes these
objects, so it is never affected.
"""

from __future__ import annotations

import builtins
import importlib
import json
import sys
import types
from typing import Any

#: Modules whose public attributes the tests use, directly or through coursekit.
WATCHED_MODULES = (
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.testing", "torch.autograd",
    "torch.optim", "numpy", "numpy.testing", "math", "random", "os", "sys",
    "coursekit.lab.checks", "coursekit.lab.experiments", "coursekit.lab.training", "coursekit.lab.data",
    "coursekit.lab.plotting", "coursekit.lab", "coursekit.lab.guard",
)
#: Imported before the snapshot (the concise cells use it; importing it imports no torch._dynamo).
PRELOAD = ("torch.optim",)
#: torch._dynamo is *not* imported at start (≈ 0.9 s of the kernel's start; the graded experiments never
#: need it, see ``training.sgd_step``). torch imports it when a torch.optim optimizer is created, and then
#: rebinds ``torch.manual_seed`` to ``torch._disable_dynamo(torch.manual_seed)``. That one change is
#: accepted (see :func:`_accept_dynamo_rewrap`); any other value is tampering.
DYNAMO_REWRAPS = ("manual_seed",)
#: Classes whose methods the tests call on the student's objects and on their own.
WATCHED_CLASSES = ("torch.Tensor", "torch.nn.Module", "torch.nn.Linear", "torch.Generator",
                   "torch.nn.parameter.Parameter")
#: sys attributes a submission could use to intercept or hide what the tests do.
WATCHED_SYS = ("meta_path", "path_hooks", "path")
#: builtins that IPython itself swaps in and out around every cell.
IPYTHON_BUILTINS = {"get_ipython", "exit", "quit", "display"}
#: The shell's methods that run a cell or report its error (instance attributes shadow them).
SHELL_METHODS = ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "transform_cell", "transform_ast",
                 "showtraceback", "_showtraceback", "showsyntaxerror", "CustomTB", "user_expressions", "ev",
                 "ex", "set_custom_exc", "should_run_async")
#: Attributes of sys and os that change on their own while a notebook runs.
VOLATILE = {"sys": {"last_type", "last_value", "last_traceback", "last_exc", "ps1", "ps2", "path",
                    "meta_path", "path_hooks", "path_importer_cache", "modules", "stdout", "stderr",
                    "stdin", "displayhook", "excepthook", "argv", "flags", "_git"},
            "os": {"environ"}}

_state: dict[str, Any] | None = None


def _resolve(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _public(namespace: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    return {k: v for k, v in namespace.items() if not k.startswith("_") and k not in skip}


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _shell_state(shell) -> dict[str, Any]:
    manager = shell.input_transformer_manager
    return {
        "custom_exceptions": shell.custom_exceptions,
        "events": {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
        "lists": {name: list(getattr(owner, name)) for owner, name in _transformer_lists(shell)},
        "instance": {key: vars(shell).get(key, _MISSING) for key in SHELL_METHODS},
        "classes": {cls: dict(vars(cls)) for cls in type(shell).__mro__ if cls is not object},
        "manager_lists": {name: list(getattr(manager, name)) for name in
                          ("cleanup_transforms", "line_transforms", "token_transformers")},
    }


def _transformer_lists(shell) -> list[tuple[Any, str]]:
    return [(shell, "input_transformers_cleanup"), (shell, "input_transformers_post"),
            (shell, "ast_transformers")]


def install() -> None:
    """Record the originals (called once, at kernel start, before any student code)."""
    global _state
    if _state is not None:
        return
    for name in (*PRELOAD, *WATCHED_MODULES):
        importlib.import_module(name)
    modules = {name: sys.modules[name] for name in WATCHED_MODULES}
    shell = _shell()
    torch = sys.modules["torch"]
    # What torch's own rewrap looks like (creating it imports nothing): its code and globals are the
    # same for every function torch._disable_dynamo wraps; only the wrapped function differs.
    probe = torch._disable_dynamo(torch.random.manual_seed)
    _state = {
        "dynamo_rewrap": (probe.__code__, probe.__globals__, probe.__defaults__, probe.__kwdefaults__,
                          [cell.cell_contents for cell in probe.__closure__ or ()], torch.random.manual_seed),
        "modules": modules,
        "module_attrs": {name: _public(vars(module), VOLATILE.get(name, set()))
                         for name, module in modules.items()},
        "classes": {name: dict(vars(_resolve(name))) for name in WATCHED_CLASSES},
        "builtins": {**_public(vars(builtins), IPYTHON_BUILTINS), "__import__": builtins.__import__,
                     "__build_class__": builtins.__build_class__},
        "sys": {name: (list(getattr(sys, name)) if isinstance(getattr(sys, name), list) else getattr(sys, name))
                for name in WATCHED_SYS},
        "trace": (sys.gettrace(), sys.getprofile()),
        "shell": _shell_state(shell) if shell is not None else None,
    }


def _restore_namespace(label: str, namespace: dict[str, Any], original: dict[str, Any],
                       setter, found: list[str]) -> None:
    for key, value in original.items():
        if namespace.get(key, _MISSING) is not value:
            setter(key, value)
            found.append(f"{label}.{key}")


_MISSING = object()
#: Special methods a submission could use to make a wrong result compare as right.
WATCHED_DUNDERS = {"__call__", "__eq__", "__ne__", "__lt__", "__gt__", "__le__", "__ge__", "__bool__", "__float__",
                   "__int__", "__index__", "__torch_function__", "__torch_dispatch__", "__getattribute__",
                   "__getattr__", "__array__", "__len__", "__iter__", "__abs__", "__sub__", "__rsub__", "__add__",
                   "__mul__", "__truediv__", "__pow__", "__neg__", "__repr__", "__format__"}


def _watched_member(key: str) -> bool:
    return not key.startswith("_") or key in WATCHED_DUNDERS


def check_and_restore() -> str:
    """Put every recorded object back; return a JSON list naming what had been changed."""
    if _state is None:
        return json.dumps(["coursekit.lab.guard (never installed in this kernel)"])
    found: list[str] = []
    _accept_dynamo_rewrap()
    for name, module in _state["modules"].items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            found.append(f"sys.modules['{name}']")
        _restore_namespace(name, vars(module), _state["module_attrs"][name],
                           lambda k, v, m=module: setattr(m, k, v), found)
    for name, original in _state["classes"].items():
        cls = _resolve(name)
        for key in sorted(k for k in set(vars(cls)) | set(original) if _watched_member(k)):
            value = original.get(key, _MISSING)
            if vars(cls).get(key, _MISSING) is value:
                continue
            if value is _MISSING:
                delattr(cls, key)
            else:
                setattr(cls, key, value)
            found.append(f"{name}.{key}")
    _restore_namespace("builtins", vars(builtins), _state["builtins"],
                       lambda k, v: setattr(builtins, k, v), found)
    for name, original in _state["sys"].items():
        current = getattr(sys, name)
        if isinstance(original, list):
            if current is not None and list(current) != original:
                current[:] = original
                found.append(f"sys.{name}")
        elif current is not original:
            setattr(sys, name, original)
            found.append(f"sys.{name}")
    if (sys.gettrace(), sys.getprofile()) != _state["trace"]:
        sys.settrace(_state["trace"][0])
        sys.setprofile(_state["trace"][1])
        found.append("sys.settrace/sys.setprofile")
    shell = _shell()
    if shell is not None and _state["shell"] is not None:
        _restore_shell(shell, _state["shell"], found)
    return json.dumps(found)


def _accept_dynamo_rewrap() -> None:
    """Once torch._dynamo has been imported, accept its rewrap of the recorded functions: a function with
    exactly the code, globals, defaults and closure of ``torch._disable_dynamo(recorded)``, which calls the
    recorded function (the only thing torch's import changes in what is watched). It is recorded in its place."""
    if "torch._dynamo" not in sys.modules:
        return
    code, namespace, defaults, kwdefaults, cells, probed = _state["dynamo_rewrap"]
    recorded = _state["module_attrs"]["torch"]
    torch = _state["modules"]["torch"]
    for name in DYNAMO_REWRAPS:
        current, original = vars(torch).get(name), recorded.get(name)
        if current is original or type(current) is not types.FunctionType:
            continue
        closure = [cell.cell_contents for cell in current.__closure__ or ()]
        expected = [original if value is probed else value for value in cells]  # the same closure around `original`
        if (current.__code__ is code and current.__globals__ is namespace and current.__defaults__ == defaults
                and current.__kwdefaults__ == kwdefaults and len(closure) == len(expected)
                and all(a is b for a, b in zip(closure, expected))):
            recorded[name] = current


def _restore_shell(shell, original: dict[str, Any], found: list[str]) -> None:
    if shell.custom_exceptions != original["custom_exceptions"]:
        shell.custom_exceptions = original["custom_exceptions"]
        found.append("IPython set_custom_exc")
    for name, callbacks in shell.events.callbacks.items():
        if callbacks != original["events"].get(name, []):
            callbacks[:] = original["events"].get(name, [])
            found.append(f"IPython events '{name}'")
    for owner, name in _transformer_lists(shell):
        if list(getattr(owner, name)) != original["lists"][name]:
            getattr(owner, name)[:] = original["lists"][name]
            found.append(f"IPython {name}")
    manager = shell.input_transformer_manager
    for name, items in original["manager_lists"].items():
        if list(getattr(manager, name)) != items:
            getattr(manager, name)[:] = items
            found.append(f"IPython input_transformer_manager.{name}")
    for key, value in original["instance"].items():
        if vars(shell).get(key, _MISSING) is not value:
            if value is _MISSING:
                delattr(shell, key)
            else:
                setattr(shell, key, value)
            found.append(f"IPython shell.{key}")
    for cls, namespace in original["classes"].items():
        for key, value in namespace.items():
            if vars(cls).get(key, _MISSING) is not value:
                setattr(cls, key, value)
                found.append(f"IPython {cls.__name__}.{key}")
    user_builtins = shell.user_ns.get("__builtins__")
    if user_builtins is not builtins and user_builtins is not vars(builtins):
        shell.user_ns["__builtins__"] = builtins
        found.append("__builtins__ of the notebook")
