"""The generated reference sections (README kinds, docs/configuration.md, docs/metrics.md) come from the
code, and the README opens the way a newcomer needs it: this fails when either drifts."""

from __future__ import annotations

import re

from exporter.docs import README, ROOT, rendered


def test_generated_sections_match_the_code() -> None:
    for path, text in rendered().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is out of date: run `make docs`"


def _commands(markdown: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", markdown, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    assert _commands(text)[:2] == ["make demo", "make test"]
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[:2] == ["Quick start", "Deploy to Kubernetes"], headings


def test_readme_links_resolve() -> None:
    """Every relative link of the README and of docs/ points at a file that exists (anchors aside)."""
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
