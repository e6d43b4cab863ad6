"""The fenced code blocks of a Markdown document, with the marker that may stand on the line before each.

A marker is an HTML comment on the line right before the opening fence (invisible on GitHub):

``<!-- not-run: REASON -->``   the block is not run; REASON says why (a test keeps these few)
``<!-- file: NAME -->``        the block is the file NAME: written into the working directory, not run (later
                              blocks, and the test's checks, use it); TypeScript files are type-checked
``<!-- fixture: serve -->``    the block is ``arda serve``, which the test starts in the background itself

Every other ``python``, ``sh``/``bash``/``shell``/``console`` block is run, in order, in one working directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

RUN_LANGUAGES = frozenset({"python", "sh", "bash", "shell", "console"})
TS_LANGUAGES = frozenset({"ts", "tsx"})
MARKERS = frozenset({"not-run", "file", "fixture"})

_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
_COMMENT = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")
_MARKER = re.compile(r"^([a-z-]+):\s*(.*)$")


class Block(NamedTuple):
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: str | None  # "not-run", "file", "fixture" or None
    argument: str  # the marker's reason, file name or fixture name ("" without a marker)
    comment: str | None  # the raw HTML comment before the fence, marker or not

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.marker is None


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` (fences at the start of a line), in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        if i == len(lines):
            raise ValueError(f"{path.name}:{start + 1}: the code block is never closed")
        code = "\n".join(lines[start + 1 : i]) + "\n"
        comment = _COMMENT.match(lines[start - 1]) if start > 0 else None
        marker, argument = None, ""
        if comment is not None:
            named = _MARKER.match(comment.group(1))
            if named is not None and named.group(1) in MARKERS:
                marker, argument = named.group(1), named.group(2).strip()
        found.append(
            Block(
                path,
                start + 1,
                opening.group(1).lower(),
                code,
                marker,
                argument,
                comment.group(1) if comment is not None else None,
            )
        )
        i += 1
    return found


def console_commands(code: str) -> str:
    """A ``console`` block's commands (the lines after ``$ ``), as a script; the other lines are output."""
    return "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("$ "))
