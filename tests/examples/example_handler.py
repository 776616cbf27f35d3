"""The example's inference module, loaded from its file as the SageMaker toolkits load it."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO

EXAMPLE_CODE = REPO / "examples" / "minilm" / "code"


def load_example_module() -> ModuleType:
    """A fresh copy of ``examples/minilm/code/inference.py`` (reads its settings again)."""
    spec = importlib.util.spec_from_file_location("minilm_example_inference", EXAMPLE_CODE / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module
