"""Checked-in tables generated from the pinned AWS SDKs, and the command that keeps them current.

Synth reads the tables instead of loading the SDKs' models (about 0.3 s for botocore's SageMaker
model and endpoints, 1 s for the SageMaker SDK); tests regenerate them and compare.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def render(table: Mapping[str, Any]) -> str:
    """A table's text: compact, sorted keys, so the same SDK always gives the same bytes."""
    return json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n"


def refresh_main(
    argv: Sequence[str] | None,
    *,
    command: str,
    path: Path,
    build: Callable[[], Mapping[str, Any]],
    source: str,
) -> int:
    """``refresh [--check]``: rewrite ``path`` from ``build()``, or exit 1 when it is stale."""
    import argparse

    parser = argparse.ArgumentParser(prog=command, description=f"{path.name}, from {source}.")
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help=f"regenerate {path.name} from the installed {source}")
    refresh.add_argument("--check", action="store_true", help="only check; exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(build())
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if args.check:
        if current != text:
            print(
                f"{path.name} is stale for the installed {source}: run 'make catalogs' ({command})",
                file=sys.stderr,
            )
            return 1
        print(f"{path.name} is up to date")
        return 0
    if current == text:
        print(f"{path.name} unchanged ({len(text.encode())} bytes)")
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(text.encode())} bytes)")
    return 0
