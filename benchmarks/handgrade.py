"""Grading the 思考题 by answer groups: group purity, TA decisions, and the page's load time.

    .venv/bin/python benchmarks/handgrade.py                 # the table in benchmarks/README.md
    .venv/bin/python benchmarks/handgrade.py --write-class   # also rewrite benchmarks/handgrade_class.json

1. A class: for each 思考题 (lab2 answer_q1…q5, stability answer_q1) 64 answers composed from
   benchmarks/handgrade_bank.py (each sentence earns one rubric item, so each answer's items are
   known): full, good, partial and one-line answers, answers with the rubric's common wrong answers,
   blank ones and ones that copy the question. Deterministic (seeded); written to
   benchmarks/handgrade_class.json with each answer's items.
2. Grouping (coursekit.handgrade.groups) at several thresholds: purity is the share of answers that
   earn the same items as the most common item set of their group; decisions by group are one per
   group plus one per answer that differs from its group (the TA applies the group's items, then
   regrades those one by one); one by one is one decision per answer.
3. Load time of the page's data (coursekit.handgrade.board.question_board) for 300 students in a
   scratch course: gradebook rows, autograded notebooks (padded with a figure output each, as real
   ones are), grouping, rendering, JSON. Cold (notebooks read) and warm (cached by file time).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from handgrade_bank import BANK, FILLERS  # noqa: E402

from coursekit.config import load_config  # noqa: E402
from coursekit.handgrade.groups import BLANK, COPIED, group_answers  # noqa: E402
from coursekit.handgrade.rubric import load_rubrics  # noqa: E402

CLASS_FILE = ROOT / "benchmarks" / "handgrade_class.json"
PER_QUESTION = 64
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def compose(rubric, bank: dict, rng: random.Random) -> tuple[str, list[str]]:
    """One student's answer and the items it earns."""
    points = [i.id for i in rubric.items if not i.wrong]
    wrong = [i.id for i in rubric.items if i.wrong]
    kind = rng.choices(["full", "good", "partial", "wrong", "one-line", "blank", "copied"],
                       weights=[18, 22, 20, 20, 8, 6, 6])[0]
    if kind == "blank":
        return rng.choice(["", "YOUR ANSWER HERE", "不会", "   "]) if rng.random() < 0.8 else "", []
    if kind == "copied":
        prompt = rubric.prompt.split("\n", 1)[-1].strip()
        return prompt if rng.random() < 0.5 else prompt.replace("**", ""), []
    if kind == "full":
        items = list(points)
    elif kind == "good":
        items = rng.sample(points, len(points) - 1)
    elif kind == "partial":
        items = rng.sample(points, rng.choice([1, 2]))
    elif kind == "one-line":
        items = [rng.choice(points)]
    else:
        items = rng.sample(points, rng.choice([0, 1])) + [rng.choice(wrong)]
    order = [i for i in points + wrong if i in items]
    sentences = [rng.choice(FILLERS) + rng.choice(bank[i]) for i in order]
    return "".join(sentences) if kind == "one-line" else "\n".join(sentences), order


def make_class(config, per_question: int = PER_QUESTION, seed: int = 31) -> dict:
    rng = random.Random(seed)
    found = {}
    for (assignment, question), bank in BANK.items():
        rubric = load_rubrics(config, assignment)[question]
        answers = [compose(rubric, bank, rng) for _ in range(per_question)]
        found[f"{assignment}/{question}"] = [{"student": f"s{k:03d}", "answer": text, "items": items}
                                             for k, (text, items) in enumerate(answers, start=1)]
    return found


def measure(klass: dict, config, threshold: float) -> dict:
    rows = {}
    for key, answers in klass.items():
        assignment, question = key.split("/")
        rubric = load_rubrics(config, assignment)[question]
        texts = {a["student"]: a["answer"] for a in answers}
        labels = {a["student"]: tuple(a["items"]) for a in answers}
        groups = group_answers(texts, prompt=rubric.prompt, threshold=threshold)
        pure = sum(Counter(labels[s] for s in g.members).most_common(1)[0][1] for g in groups)
        special = {s for g in groups if g.kind in (BLANK, COPIED) for s in g.members}
        rows[key] = {"answers": len(answers), "groups": len(groups), "purity": pure / len(answers),
                     "by_group": len(groups) + (len(answers) - pure), "one_by_one": len(answers),
                     "distinct_labels": len(set(labels.values())),
                     "special_ok": all(not labels[s] for s in special)}
    return rows


def scratch_course(folder: Path, students: int, klass: dict):
    """A scratch course with lab2 in its gradebook and `students` autograded notebooks."""
    import nbformat
    from coursekit.authoring.release import copy_course
    from tests.support.gradebook import register_submissions
    config = load_config(copy_course(ROOT, folder))
    release = config.directory("release") / "lab2" / "lab2.ipynb"
    nb = nbformat.read(release, as_version=4)
    figure = base64.b64encode(random.Random(0).randbytes(150_000)).decode()  # one figure's worth of output
    register_submissions(config, "lab2", nb, (f"student{k:03d}" for k in range(students)))
    for k in range(students):
        student = f"student{k:03d}"
        mine = nbformat.from_dict(json.loads(json.dumps(nb)))
        padded = False
        for cell in mine.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if f"lab2/{gid}" in klass:
                pool = klass[f"lab2/{gid}"]
                cell.source = pool[k % len(pool)]["answer"]
            if not padded and cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": figure})]
                padded = True
        folder_ = config.directory("autograded") / student / "lab2"
        folder_.mkdir(parents=True, exist_ok=True)
        nbformat.write(mine, folder_ / "lab2.ipynb")
    return config


def load_times(klass: dict, students: int = 300, repeats: int = 3) -> dict:
    from coursekit.handgrade import answers as answers_module
    from coursekit.handgrade.board import question_board
    # nbgrader runs `alembic` from PATH when it creates a gradebook
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        config = scratch_course(Path(tmp) / "course", students, klass)
        size = sum(p.stat().st_size for p in config.directory("autograded").rglob("*.ipynb")) / students
        cold, warm = [], []
        for _ in range(repeats):
            answers_module._cache.clear()
            start = time.perf_counter()
            board = question_board(config, "lab2", "answer_q1")
            json.dumps(board, ensure_ascii=False)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            body = json.dumps(question_board(config, "lab2", "answer_q1"), ensure_ascii=False)
            warm.append(time.perf_counter() - start)
        return {"students": students, "notebook_kb": size / 1024, "cold_s": statistics.median(cold),
                "warm_s": statistics.median(warm), "json_kb": len(body.encode()) / 1024,
                "groups": len(board["groups"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-class", action="store_true", help="rewrite benchmarks/handgrade_class.json")
    parser.add_argument("--students", type=int, default=300)
    args = parser.parse_args(argv)
    config = load_config(ROOT / "course.toml")
    klass = make_class(config)
    if args.write_class or not CLASS_FILE.exists():
        CLASS_FILE.write_text(json.dumps(klass, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"class: {sum(len(v) for v in klass.values())} answers, {PER_QUESTION} per question ({CLASS_FILE.name})")
    print("\nthreshold | purity | groups | decisions by group | one by one")
    best = None
    for threshold in THRESHOLDS:
        rows = measure(klass, config, threshold)
        n = sum(r["answers"] for r in rows.values())
        purity = sum(r["purity"] * r["answers"] for r in rows.values()) / n
        groups = sum(r["groups"] for r in rows.values())
        decisions = sum(r["by_group"] for r in rows.values())
        print(f"{threshold:9.2f} | {purity:6.1%} | {groups:6d} | {decisions:18d} | {n}")
        if best is None or decisions < best[1]:
            best = (threshold, decisions, rows)
    from coursekit.handgrade.groups import DEFAULT_THRESHOLD
    rows = measure(klass, config, DEFAULT_THRESHOLD)
    print(f"\nper question at the default threshold {DEFAULT_THRESHOLD} (fewest decisions at {best[0]}):")
    print("question | answers | distinct item sets | groups | purity | decisions by group | one by one | blank/copied groups pure")
    for key, r in rows.items():
        print(f"{key} | {r['answers']} | {r['distinct_labels']} | {r['groups']} | {r['purity']:.1%} | "
              f"{r['by_group']} | {r['one_by_one']} | {'yes' if r['special_ok'] else 'NO'}")
    times = load_times(klass, students=args.students)
    print(f"\npage data for {times['students']} students (answer_q1; autograded notebooks {times['notebook_kb']:.0f} KB "
          f"each): cold {times['cold_s']:.2f} s, warm {times['warm_s']:.2f} s, JSON {times['json_kb']:.0f} KB, "
          f"{times['groups']} groups")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
