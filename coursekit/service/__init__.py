"""The grading service (``coursekit serve``): every submission graded when it reaches nbgrader's exchange.

One concept per module:

* :mod:`.watcher` — which submissions are in the exchange's inbound folder (nbgrader's naming);
* :mod:`.journal` — the queue on disk: one fsynced line per event, replayed after a restart;
* :mod:`.ratelimit` — how many graded submissions a student may have per hour and in all;
* :mod:`.policy` — what feedback shows before the due date, and which submission counts;
* :mod:`.schedule` — from the journal and the clock, what to do next for each student;
* :mod:`.visible` — the feedback step of the ``visible`` policy (parts with hidden tests withheld);
* :mod:`.notices` — the pages a student gets for a submission that is not graded now;
* :mod:`.steps` — nbgrader's collect, generate_feedback and release_feedback, run in this process;
* :mod:`.server` — the loop that ties them together with the class-grading path
  (:func:`coursekit.grading.classgrade.grade_submission`: sandbox, limits, verdicts, gradebook).
"""
