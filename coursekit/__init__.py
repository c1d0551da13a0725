"""coursekit: the helper package of Lab 2 (activation functions and regularization).

Students import it from the notebook for data, training loops, plots and run profiles;
instructors use its command line (``python -m coursekit``) to provision data, build the
release and grade. It holds no solution code.
"""

__version__ = "0.1.0"
