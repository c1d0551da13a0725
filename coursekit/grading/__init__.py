"""What nbgrader and the instructor run to grade: the class run (classgrade), nbgrader's execute step
(execute) and the judge of the verdicts (judge), the sandbox, feedback, the class report, the grade
table, late work, nbgrader's settings, the similarity report. The student's kernel never imports
this package; its code judges what the kernel measured."""
