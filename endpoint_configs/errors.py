"""The one error a bad configuration raises: every problem, with path, value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config: where, the bad value, and what is allowed."""

    path: str
    message: str
    value: Any = None
    has_value: bool = True

    def render(self) -> str:
        where = self.path or "(top level)"
        shown = f" = {self.value!r}" if self.has_value else ""
        return f"{where}{shown}: {self.message}"


class ConfigError(Exception):
    """Invalid configuration; ``str()`` is the whole message for the user."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{source}: {count}"] + [f"  - {p.render()}" for p in problems]
        super().__init__("\n".join(lines))
