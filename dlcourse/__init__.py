"""Everything the student's kernel imports: the lab session, MNIST, the run profiles, the training
utilities and the four experiments, the figures, and the graded parts' checks.

Nothing here imports nbgrader or ``coursekit.grading`` (tests/test_boundaries.py checks it): the
notebook runs the same code on a student's laptop as in the grading sandbox.

    from dlcourse import start
    session = start()
"""

from dlcourse.session import LabSession, start

__all__ = ["LabSession", "start"]
