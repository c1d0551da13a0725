"""Graded cells for the tests' small notebooks, with the nbgrader metadata autograde leaves on them."""

from __future__ import annotations


def graded(cell, grade_id: str, points: float, score: float | None, *, solution: bool = False, locked: bool = False):
    """`cell` as a graded nbgrader cell with its points and score (None: not graded yet)."""
    cell.metadata["nbgrader"] = {"grade": True, "solution": solution, "grade_id": grade_id,
                                 "points": points, "score": score}
    if locked:
        cell.metadata["nbgrader"]["locked"] = True
    return cell
