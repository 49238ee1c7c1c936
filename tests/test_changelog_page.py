"""The documentation's changelog page repeats CHANGELOG.md word for word."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def body_after_title(text: str) -> str:
    """Return ``text`` without its first line and without HTML comment lines."""
    lines = text.splitlines()[1:]
    return "\n".join(line for line in lines if not line.startswith("<!--")).strip()


def test_changelog_page_matches_changelog() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    page = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")

    assert body_after_title(page) == body_after_title(changelog), (
        "docs/changelog.md differs from CHANGELOG.md; copy CHANGELOG.md below the page's title"
    )
