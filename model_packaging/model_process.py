"""Run a packaging step (the Neo trace, the ONNX export) in a fresh Python process.

A fresh process keeps torch out of the caller and makes the output reproducible (TorchScript
numbers traced classes per process). The child runs offline with quiet libraries and a fixed hash
seed, and writes one JSON result file; the caller reads it here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_packaging.errors import PackagingError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ProcessOutcome:
    """The child's exit code, the last lines of its stderr and its JSON result ({} if none)."""

    returncode: int
    stderr_tail: str
    result: dict[str, Any]

    def exit_error(self, failing: str, role: str) -> PackagingError:
        """``<failing>: the <role> process exited with code N: <stderr tail>``."""
        return PackagingError(
            f"{failing}: the {role} process exited with code {self.returncode}: {self.stderr_tail}"
        )


def run_model_process(
    module: str, arguments: Sequence[str], *, result_path: Path, timeout_seconds: int, failing: str
) -> ProcessOutcome:
    """Run ``python -m module arguments`` offline, read and remove ``result_path``; a timeout
    raises ``PackagingError`` as ``<failing>: no result after N s``."""
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        completed = subprocess.run(
            [sys.executable, "-m", module, *arguments],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout_seconds,
            check=False,
        )
        result: dict[str, Any] = {}
        if result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired:
        raise PackagingError(f"{failing}: no result after {timeout_seconds} s") from None
    finally:
        result_path.unlink(missing_ok=True)
    tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
    return ProcessOutcome(completed.returncode, tail, result)
