"""The generated table of SageMaker facts stays equal to what the pinned botocore says, and reading
it loads no botocore."""

from __future__ import annotations

import subprocess
import sys

import pytest

from endpoint_configs import limits, service_catalog
from tests.conftest import REPO


def test_table_is_current_for_the_installed_botocore(capsys: pytest.CaptureFixture[str]) -> None:
    assert service_catalog.main(["refresh", "--check"]) == 0, capsys.readouterr().err


def test_lookups_equal_botocore() -> None:
    table = service_catalog.build_table()
    assert limits.hosting_instance_types() == tuple(table["hosting_instance_types"])
    assert limits.sagemaker_regions() == tuple(table["sagemaker_regions"])
    assert "ml.g5.xlarge" in limits.hosting_instance_types()
    assert {"us-east-1", "cn-north-1", "us-gov-west-1"} <= set(limits.sagemaker_regions())


def test_validating_a_config_loads_no_botocore() -> None:
    code = (
        "import sys; from endpoint_configs import load_environment_config; "
        "load_environment_config('prod'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'sagemaker')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
