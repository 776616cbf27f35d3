"""``model.optimization`` (ONNX, int8, accuracy gate): one failing input per rule, each asserting
its one message. Every case starts from the shipped ``dev.yaml`` and changes one thing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from endpoint_configs import CONFIG_DIR, ConfigError, parse_config
from endpoint_configs.optimization import OPTIMIZATION_METHODS
from model_packaging import optimize
from model_packaging.environment import build_environment_artifact
from tests.conftest import REPO
from tests.endpoint_configs.test_validation import DELETE, _set

BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
OPT = "model.optimization"


def parse(**changes: Any) -> Any:
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        _set(data, path.replace("__", "."), value)
    return parse_config(
        yaml.safe_dump(data, sort_keys=False), source="endpoint_configs/dev.yaml", expected_env="dev"
    )


def only_problem(error: ConfigError) -> str:
    assert len(error.problems) == 1, str(error)
    return error.problems[0].render()


def test_dev_serves_the_int8_onnx_model_behind_the_default_gate() -> None:
    optimization = parse().model.optimization
    assert optimization is not None
    assert optimization.method == "onnx-int8"
    assert (optimization.thresholds.mean, optimization.thresholds.minimum) == (0.99, 0.95)
    assert (REPO / optimization.probe_file).is_file()


def test_the_config_and_the_packaging_offer_the_same_methods() -> None:
    assert OPTIMIZATION_METHODS == optimize.OPTIMIZATION_METHODS


def test_an_unknown_method_is_refused_with_the_allowed_ones() -> None:
    # GIVEN a method this package does not implement WHEN the file is parsed THEN it names both
    with pytest.raises(ConfigError) as error:
        parse(model__optimization__method="tensorrt-fp8")
    message = only_problem(error.value)
    assert f"{OPT}.method" in message
    assert "'tensorrt-fp8'" in message
    assert "'onnx-int8'" in message
    assert "'onnx-fp32'" in message


@pytest.mark.parametrize(("field", "value"), [("mean", 0), ("minimum", 1.5), ("mean", -0.2)])
def test_thresholds_outside_zero_to_one_are_refused(field: str, value: float) -> None:
    # GIVEN a cosine threshold outside (0, 1]
    with pytest.raises(ConfigError) as error:
        parse(**{f"model__optimization__thresholds__{field}": value})
    # THEN the path, the value and the range are in the message
    message = only_problem(error.value)
    assert f"{OPT}.thresholds.{field}" in message
    assert repr(value) in message or str(value) in message


def test_optimization_needs_a_build_block() -> None:
    # GIVEN an artifact already in S3, which is served as it is
    with pytest.raises(ConfigError) as error:
        parse(
            model__artifact={"s3_uri": "s3://bucket/models/model.tar.gz"},
        )
    assert "needs model.artifact.build" in only_problem(error.value)


def test_optimization_and_neo_compilation_exclude_each_other() -> None:
    neo = yaml.safe_load((CONFIG_DIR / "neo.yaml").read_text())
    data = copy.deepcopy(neo)
    data["model"]["optimization"] = BASE["model"]["optimization"]
    with pytest.raises(ConfigError) as error:
        parse_config(yaml.safe_dump(data), source="endpoint_configs/neo.yaml", expected_env="neo")
    assert "give model.optimization or model.compilation, not both" in only_problem(error.value)


def test_a_probe_file_field_must_not_be_empty() -> None:
    with pytest.raises(ConfigError) as error:
        parse(model__optimization__probe_file="")
    assert f"{OPT}.probe_file" in only_problem(error.value)


def test_the_method_is_required() -> None:
    with pytest.raises(ConfigError) as error:
        parse(model__optimization__method=DELETE)
    assert f"{OPT}.method" in only_problem(error.value)


@pytest.mark.parametrize(
    ("content", "expected"), [(None, "does not exist"), ("# only a comment\n\n", "empty")]
)
def test_a_missing_or_empty_probe_file_stops_the_build_before_any_export(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    # GIVEN dev pointing at a probe file that is missing, or holds no sentence
    probes = tmp_path / "probes.txt"
    if content is not None:
        probes.write_text(content)
    config = parse(model__optimization__probe_file=str(probes))
    # WHEN the artifact is built THEN one message names the field and the file
    with pytest.raises(ConfigError) as error:
        build_environment_artifact(config, project_root=REPO, source="endpoint_configs/dev.yaml")
    message = only_problem(error.value)
    assert f"{OPT}.probe_file" in message
    assert str(probes) in message
    assert expected in message
