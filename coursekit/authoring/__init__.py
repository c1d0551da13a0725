"""The instructor's authoring tools: the release built from source/ (release), sample submissions
made from the instructor's answers (samples), and the in-process replay of the notebook (replay)."""
