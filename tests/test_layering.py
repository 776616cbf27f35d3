"""The import rules of the layout: configuration, cost advice, packaging and serving never import the CDK;
constructs never import the configuration or the stacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN_IMPORTS = {
    "cost_advisor": ("aws_cdk", "constructs", "cdk_nag"),
    "endpoint_configs": ("aws_cdk", "constructs", "cdk_nag"),
    "model_packaging": ("aws_cdk", "constructs", "cdk_nag"),
    "local_serving": ("aws_cdk", "constructs", "cdk_nag"),
    "sagemaker_constructs": ("endpoint_configs", "stacks"),
}


def _imports(source: Path) -> set[str]:
    text = source.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", text, re.M))


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_package_never_imports_what_its_layer_forbids(package: str) -> None:
    offenders = {
        f"{source.relative_to(REPO)} imports {name}"
        for source in (REPO / package).rglob("*.py")
        for name in _imports(source) & set(FORBIDDEN_IMPORTS[package])
    }
    assert not offenders
