"""What a broken rule costs, in the same words in the notebook's visible checks and in the feedback.

A finding of the review (:mod:`coursekit.partkit.review`) fails only the parts of its TODO (and the
experiments that run them). A graded definition that uses a name defined in a cell of the student's
own is warned about: grading runs only the TODO's own answer cell.
"""

from __future__ import annotations

import ast
import dis
import linecache
import types
from typing import Any

from coursekit.partkit.part import Assignment, Experiment, Part
from coursekit.partkit.review import bound_names, python_source, rules_broken


def rule_message(part: Part, forbidden: dict[str, str], tampering: dict[str, str]) -> str | None:
    """What a broken rule of the part's TODO costs it (None when its definition keeps to the rules)."""
    if part.definition in tampering:
        return (f"答案单元格 {part.todo} 伸手去改评分进程或 Python 运行环境（{tampering[part.definition]}），"
                f"这个任务的各项不得分。请删掉这些代码后重新提交。")
    if part.definition in forbidden:
        return f"{part.definition} 用了不允许的写法：{forbidden[part.definition]}。这一项不得分。"
    return None


def defined_elsewhere_message(name: str, todo: str) -> str:
    """A name an answer uses but its own cell does not define (the grader does not run that cell)."""
    return (f"{name} 没有定义在答案单元格 {todo} 里：评分时这个任务只运行它自己的答案单元格和课程的单元格，"
            f"你自己添加的单元格不运行。把 {name} 的定义移到答案单元格 {todo} 里。")


def protected_packages(assignment: Assignment) -> frozenset[str]:
    return frozenset({assignment.package} - {""})


def review_definition(assignment: Assignment, part: Part, subject: Any) -> str | None:
    """The notebook-side rule check: the review of the cell that defined the graded class or function."""
    if isinstance(part, Experiment):
        return None
    functions = [subject] if callable(subject) and hasattr(subject, "__code__") else \
        [v for v in vars(subject).values() if hasattr(v, "__code__")] if isinstance(subject, type) else []
    for function in functions:
        source = "".join(linecache.getlines(function.__code__.co_filename))
        if source:
            broken = rules_broken(source, assignment.rules.get(part.todo), assignment.definitions(part.todo),
                                  protected_packages(assignment))
            return rule_message(part, *broken) or _defined_elsewhere(assignment, part, functions, source)
    return None


def _defined_elsewhere(assignment: Assignment, part: Part, functions: list[Any], source: str) -> str | None:
    """The visible checks' warning for a graded definition that uses a function, class or value defined
    in a cell of the student's own: the notebook runs it, grading does not (the same words as the feedback)."""
    try:
        bound = bound_names(ast.parse(python_source(source)))
    except SyntaxError:
        return None
    group = assignment.groups[part.worker]
    allowed = {p.definition for p in assignment.parts if p.todo in group.answers} | {"_"}
    if group.reference:
        try:
            allowed |= {node.name for node in ast.parse(group.reference).body
                        if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        except SyntaxError:
            pass

    def codes(code: types.CodeType):
        yield code
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from codes(const)

    for function in functions:
        namespace = function.__globals__
        for code in codes(function.__code__):
            for instruction in dis.get_instructions(code):
                name = instruction.argval
                if instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME") or name in bound or name in allowed \
                        or name not in namespace:
                    continue
                value = namespace[name]
                mine = getattr(value, "__module__", None) == "__main__" if callable(value) else \
                    not isinstance(value, types.ModuleType) and type(value).__module__ in ("builtins", "torch", "numpy")
                if mine:
                    return defined_elsewhere_message(name, part.todo)
    return None
