"""Every relative link and picture in README.md and docs/*.md leads somewhere: the file exists and a
``#anchor`` names one of its headings (GitHub's slugs). The README is a front door to those pages."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _outside_code(path: Path, keep_code_spans: bool = False):
    """(line number, text) of the lines outside fenced code blocks; code spans removed (they hold
    no links), or kept without their backticks (a heading's slug keeps their text)."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line.replace("`", "") if keep_code_spans else re.sub(r"`[^`]*`", "", line)


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for _, line in _outside_code(path, keep_code_spans=True):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = _slug(heading.group(1))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return found


def test_every_relative_link_in_the_readme_and_docs_resolves():
    broken = []
    for page in PAGES:
        for number, line in _outside_code(page):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # http:, https:, mailto:
                file_part, _, anchor = target.partition("#")
                destination = (page.parent / file_part).resolve() if file_part else page
                where = f"{page.relative_to(ROOT)}:{number}: {target}"
                if not destination.exists():
                    broken.append(f"{where}: no such file")
                elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
                    broken.append(f"{where}: no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_door_from_which_every_docs_page_is_reachable():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 250, "keep the README short: move details into docs/, linked"
    reached, frontier = {readme}, [readme]
    while frontier:
        page = frontier.pop()
        for _, line in _outside_code(page):
            for target in LINK.findall(line):
                file_part = target.partition("#")[0]
                destination = (page.parent / file_part).resolve()
                if file_part.endswith(".md") and destination.exists() and destination not in reached:
                    reached.add(destination)
                    frontier.append(destination)
    unreachable = [p.name for p in PAGES if p.resolve() not in reached]
    assert not unreachable, f"docs pages no link leads to from the README: {unreachable}"
