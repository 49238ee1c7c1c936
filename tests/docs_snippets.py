"""Read the settings snippets of the documentation, so that tests run what the docs show.

A snippet is a fenced ``python`` block whose first line is ``# settings.py``. Its
statements must be plain assignments of literals (``NAME = ...``) or additions to a
list setting (``MIDDLEWARE += [...]``), which are evaluated with ``ast.literal_eval``;
anything else fails the test that reads it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from django.conf import settings

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
_HEADING = re.compile(r"^(#{2,6}) (.+?)\s*$", re.MULTILINE)
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _section(text: str, heading: str, subheading: str | None) -> str:
    headings = list(_HEADING.finditer(text))
    start = next(
        (
            i
            for i, match in enumerate(headings)
            if len(match.group(1)) == 2 and match.group(2) == heading
        ),
        None,
    )
    if start is None:
        raise AssertionError(f"The docs have no '## {heading}' section.")
    section_end = next(
        (m.start() for m in headings[start + 1 :] if len(m.group(1)) <= 2), len(text)
    )
    inner = [m for m in headings[start + 1 :] if m.start() < section_end]
    if subheading is None:
        end = inner[0].start() if inner else section_end
        return text[headings[start].end() : end]
    for index, match in enumerate(inner):
        if match.group(2) == subheading:
            end = inner[index + 1].start() if index + 1 < len(inner) else section_end
            return text[match.end() : end]
    raise AssertionError(f"The '## {heading}' section has no '{subheading}' heading.")


def _evaluate(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            assert isinstance(target, ast.Name), ast.unparse(statement)
            values[target.id] = ast.literal_eval(statement.value)
        elif isinstance(statement, ast.AugAssign) and isinstance(statement.op, ast.Add):
            assert isinstance(statement.target, ast.Name), ast.unparse(statement)
            name = statement.target.id
            current = values.get(name, list(getattr(settings, name)))
            values[name] = [*current, *ast.literal_eval(statement.value)]
        else:
            raise AssertionError(
                f"Unsupported statement in a settings snippet: {ast.unparse(statement)}"
            )
    return values


def docs_settings(page: str, heading: str, subheading: str | None = None) -> dict[str, Any]:
    """Return the settings that the ``# settings.py`` snippets of one docs section assign.

    ``heading`` is a level-two heading of ``docs/<page>``; with ``subheading``, only the
    text under that lower heading inside it is read, else only the text before the
    first lower heading.
    """
    text = (DOCS_DIR / page).read_text(encoding="utf-8")
    section = _section(text, heading, subheading)
    blocks = [
        block for block in _PYTHON_BLOCK.findall(section) if block.startswith("# settings.py\n")
    ]
    if not blocks:
        raise AssertionError(f"No '# settings.py' snippet under {heading!r} / {subheading!r}.")
    values: dict[str, Any] = {}
    for block in blocks:
        values.update(_evaluate(block))
    return values
