"""The documentation site: it builds with `mkdocs build --strict` without a single warning, no link in it
is broken, the README's links into it hold, and the facts it repeats agree with course.toml."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["index", "instructor", "ta", "student", "admin", "design"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (offline, --strict), here into a temporary folder."""
    out = tmp_path_factory.mktemp("docs-site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed (is `pip install -e '.[docs]'` done?):\n{log}"
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)
    return out


def test_every_guide_is_built(site):
    for page in PAGES:
        assert (DOCS / f"{page}.md").is_file(), page
        assert (site / f"{page}.html").is_file(), page


class Links(HTMLParser):
    """The ids a page defines and the links (href, src) it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value:
                self.links.append(value)


def parsed(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def test_no_internal_link_of_the_site_is_broken(site):
    """Every internal link of every generated page names a file of the site, and its anchor an id there."""
    pages = {page: parsed(page) for page in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            if not parts.path:
                target = page
            elif parts.path.startswith("/"):  # the 404 page's links, from the site's root as a server serves it
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or site.resolve() not in [target, *target.parents]:
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parsed(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)


def markdown_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_the_readme_links_to_every_guide_and_every_link_holds(site):
    """The README's relative links name existing files; those into docs/ name pages and anchors the site has."""
    links = markdown_links(ROOT / "README.md")
    assert {f"docs/{page}.md" for page in PAGES} <= {link.split("#")[0] for link in links}
    for link in links:
        parts = urlsplit(link)
        if parts.scheme:
            continue
        target = ROOT / unquote(parts.path)
        assert target.exists(), f"README links to {link}: no such file"
        if parts.fragment:
            assert target.parent == DOCS and target.suffix == ".md", f"README: anchor outside docs/: {link}"
            assert parts.fragment in parsed(site / f"{target.stem}.html").ids, f"README links to {link}: no such anchor"


def points_table(text: str, heading: str) -> dict[str, int]:
    """grade_id -> points of the first table after HEADING ("3 + 3" splits over the row's grade ids,
    "5 × 4" gives 4 to each, `a` … `b` is a range of 思考题)."""
    section = text.split(heading, 1)[1]
    table = re.search(r"((?:^\|.*\n)+)", section, re.MULTILINE).group(1)
    points: dict[str, int] = {}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        ids = re.findall(r"`(\w+)`", cells[0])
        if "…" in cells[0]:
            first, last = int(ids[0][-1]), int(ids[-1][-1])
            ids = [f"{ids[0][:-1]}{n}" for n in range(first, last + 1)]
        values = [int(cells[2].split("×")[1])] * len(ids) if "×" in cells[2] else [int(v) for v in cells[2].split("+")]
        assert len(values) == len(ids), row
        points.update(zip(ids, values, strict=True))
    return points


def test_the_points_tables_agree_with_course_toml():
    course = tomllib.loads((ROOT / "course.toml").read_text(encoding="utf-8"))
    guide = (DOCS / "instructor.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert points_table(guide, "## Points") == course["assignments"]["lab2"]["points"]
    assert points_table(readme, "## Points") == course["assignments"]["lab2"]["points"]
    assert points_table(guide, "The `stability` assignment:") == course["assignments"]["stability"]["points"]


def coursekit_commands() -> set[str]:
    result = subprocess.run([sys.executable, "-m", "coursekit", "--help"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    return set(re.search(r"\{([a-z,-]+)\}", result.stdout).group(1).split(","))


def test_every_coursekit_command_the_guides_quote_exists():
    """`python -m coursekit NAME …` as the README and the guides write it: NAME is a command of coursekit."""
    known = coursekit_commands()
    quoted: dict[str, str] = {}
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for name in re.findall(r"-m coursekit (?:--config \S+ )?([a-z][a-z-]*)", path.read_text(encoding="utf-8")):
            quoted.setdefault(name, path.name)
    assert {"build", "grade", "feedback", "serve", "hub", "similarity", "report"} <= set(quoted)
    unknown = {name: where for name, where in quoted.items() if name not in known}
    assert not unknown, f"commands the documentation quotes that coursekit lacks: {unknown}"


def test_benchmarks_readme_describes_every_benchmark():
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        assert f"`{script.name}`" in readme, f"benchmarks/README.md does not describe {script.name}"


def test_the_thresholds_table_lists_every_setting_of_every_part_with_its_default():
    """docs/instructor.md "Judging thresholds" names each part's settings and the defaults the parts declare."""
    import importlib

    from coursekit.config import load_config
    from coursekit.partkit.settings import settings_of
    text = (DOCS / "instructor.md").read_text(encoding="utf-8")
    section = text.split("## Judging thresholds", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \| ([^|]+) \|", section, flags=re.M))
    declared = set()
    for assignment in load_config(ROOT / "course.toml").assignments.values():
        module, _, name = assignment.parts.partition(":")
        for part in getattr(importlib.import_module(module), name).parts:
            declared |= {(part.grade_id, key, f"{value:g}") for key, value in settings_of(part).items()}
    assert {(g, k, v.strip()) for g, k, v in rows} == declared
