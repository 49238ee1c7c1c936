"""Load the settings and URL snippets of docs/integrations.md, so tests use them as written.

Each snippet is a fenced ``python`` block directly after a ``<!-- recipe: NAME -->`` line.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"

_RECIPE = re.compile(
    r"^<!-- recipe: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)

#: Settings that the snippets extend with ``+=``; they start empty when a snippet runs.
EXTENDED_SETTINGS = ("INSTALLED_APPS", "MIDDLEWARE", "AUTHENTICATION_BACKENDS")


@functools.cache
def recipe_sources() -> dict[str, str]:
    """Return the code of every recipe on the page, by name."""
    text = DOCS_PAGE.read_text(encoding="utf-8")
    sources: dict[str, str] = {}
    for match in _RECIPE.finditer(text):
        name = match["name"]
        if name in sources:
            raise ValueError(f"docs/integrations.md has two recipes named {name!r}.")
        sources[name] = match["code"]
    return sources


@functools.cache
def recipe_namespace(name: str) -> dict[str, Any]:
    """Run the recipe ``name`` and return the names it defines."""
    try:
        source = recipe_sources()[name]
    except KeyError:
        raise KeyError(f"docs/integrations.md has no recipe named {name!r}.") from None
    namespace: dict[str, Any] = {setting: [] for setting in EXTENDED_SETTINGS}
    exec(compile(source, f"docs/integrations.md:{name}", "exec"), namespace)  # noqa: S102
    return namespace


def recipe_settings(name: str) -> dict[str, Any]:
    """Return the settings (upper-case names) that the recipe ``name`` assigns."""
    return {
        key: value
        for key, value in recipe_namespace(name).items()
        if key.isupper() and not key.startswith("_")
    }
