"""Config validation: one failing input per rule, each asserting the path, value and allowed range.

Every case starts from the valid ``dev.yaml``, changes one thing, and checks the one message.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from endpoint_configs import (
    CONFIG_DIR,
    AsyncEndpoint,
    ConfigError,
    RealtimeEndpoint,
    available_environments,
    limits,
    load_environment_config,
    memory_problems,
    parse_config,
    resolve_endpoint_type,
)
from tests.conftest import block_of

BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


class _Delete:
    def __repr__(self) -> str:
        return "<deleted>"


DELETE = _Delete()


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b[0].c`` in nested dicts/lists; ``DELETE`` removes the key."""
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def config_error(**changes: Any) -> ConfigError:
    """GIVEN dev.yaml with ``changes`` (path=value, '__' for '.'), WHEN parsed, THEN ConfigError."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        _set(data, path.replace("__", "."), value)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), source="endpoint_configs/dev.yaml", expected_env="dev")
    return caught.value


V0 = "endpoints[0].variants[0]"
SL = "endpoints[1]"
AS = "endpoints[2]"
BT = "endpoints[3]"
SCALING = f"{V0}.autoscaling"
BLUE_GREEN = "endpoints[0].deployment.blue_green"


def _case(path: str, value: Any, where: str, fragment: str) -> Any:
    return pytest.param(path, value, where, fragment, id=f"{path}={value!r}"[:80])


CASES = [
    # names: the pattern and, separately, the length
    _case("endpoints[0].endpoint_name", "-leading-hyphen", "endpoints[0].endpoint_name", "must match"),
    _case("endpoints[0].endpoint_name", "a" + "-" * 70 + "b", "endpoints[0].endpoint_name", "72 characters"),
    _case(f"{V0}.name", "has_underscore", f"{V0}.name", "letters, digits and hyphens"),
    # instance types
    _case(f"{V0}.instance_type", "m5.large", f"{V0}.instance_type", "ml.<family>.<size>"),
    _case(f"{V0}.instance_type", "ml.m5.huge", f"{V0}.instance_type", "sizes of ml.m5: ml.m5.12xlarge"),
    _case(f"{V0}.instance_type", "ml.zz9.large", f"{V0}.instance_type", "known families: c4"),
    # variants, counts and weights
    _case("endpoints[0].variants", [], "endpoints[0].variants", "at least 1 item"),
    _case(f"{V0}.initial_instance_count", 0, f"{V0}.initial_instance_count", "greater than or equal to 1"),
    _case(f"{V0}.initial_instance_count", "two", f"{V0}.initial_instance_count", "is text, not a number"),
    _case(f"{V0}.initial_instance_count", "2", f"{V0}.initial_instance_count", "write it without quotes"),
    _case(f"{V0}.initial_instance_count", 1.5, f"{V0}.initial_instance_count", "valid integer"),
    _case(
        "model.image.framework_version", 2.6, "model.image.framework_version", 'put it in quotes, e.g. "2.6"'
    ),
    _case("model.environment.MAX_BATCH_SIZE", 16, "model.environment.MAX_BATCH_SIZE", "put it in quotes"),
    _case("stateful.retain_on_delete", "no", "stateful.retain_on_delete", "true or false, without quotes"),
    _case(f"{V0}.initial_weight", -1, f"{V0}.initial_weight", "greater than or equal to 0"),
    _case(f"{V0}.initial_weight", 0, "endpoints[0]", "add up to 0"),
    _case(f"{V0}.volume_size_gb", 900, f"{V0}.volume_size_gb", "less than or equal to 512"),
    _case(
        f"{V0}.model_data_download_timeout_seconds",
        30,
        f"{V0}.model_data_download_timeout_seconds",
        "greater than or equal to 60",
    ),
    _case(
        f"{V0}.container_startup_health_check_timeout_seconds",
        4000,
        f"{V0}.container_startup_health_check_timeout_seconds",
        "less than or equal to 3600",
    ),
    _case(f"{V0}.bogus", 1, f"{V0}.bogus", "unknown key; allowed keys: name, instance_type"),
    # autoscaling
    _case(f"{SCALING}.min_capacity", 3, SCALING, "min_capacity 3 > max_capacity 2"),
    _case(f"{SCALING}.min_capacity", 0, SCALING, "only async endpoints may scale to zero"),
    _case(f"{V0}.initial_instance_count", 5, V0, "outside autoscaling bounds 1-2"),
    _case(f"{V0}.instance_type", "ml.t2.medium", V0, "not supported on burstable instance ml.t2.medium"),
    _case(f"{SCALING}.target_utilization", 1.5, f"{SCALING}.target_utilization", "less than or equal to 1"),
    _case(
        f"{SCALING}.max_requests_per_second_per_instance",
        0,
        f"{SCALING}.max_requests_per_second_per_instance",
        "greater than 0",
    ),
    _case(
        f"{SCALING}.scale_in_cooldown_seconds",
        4000,
        f"{SCALING}.scale_in_cooldown_seconds",
        "less than or equal to 3600",
    ),
    _case(
        f"{SCALING}.schedules",
        [{"name": "night", "cron": "0 20 * * *", "min_capacity": 1, "max_capacity": 1}],
        f"{SCALING}.schedules[0].cron",
        "must have 6 fields",
    ),
    _case(
        f"{SCALING}.schedules",
        [{"name": "night", "cron": "0 20 * * MON-FRI *", "min_capacity": 1, "max_capacity": 1}],
        f"{SCALING}.schedules[0].cron",
        "needs '?'",
    ),
    _case(
        f"{SCALING}.schedules",
        [
            {
                "name": "n",
                "cron": "0 20 ? * * *",
                "timezone": "Mars/Olympus",
                "min_capacity": 1,
                "max_capacity": 1,
            }
        ],
        f"{SCALING}.schedules[0].timezone",
        "IANA time zone",
    ),
    _case(
        f"{SCALING}.schedules",
        [{"name": "n", "cron": "0 20 ? * * *", "min_capacity": 2, "max_capacity": 1}],
        f"{SCALING}.schedules[0]",
        "min_capacity 2 > max_capacity 1",
    ),
    _case(
        f"{SCALING}.schedules",
        [{"name": "n", "cron": "0 20 ? * * *", "min_capacity": 1, "max_capacity": 1}] * 2,
        SCALING,
        "schedule names must be unique; repeated: n",
    ),
    _case(
        f"{SCALING}.schedules",
        [{"name": "nights", "cron": "0 20 ? * * *", "min_capacity": 0, "max_capacity": 1}],
        SCALING,
        "schedule 'nights': min_capacity 0: real-time endpoints need at least 1 instance",
    ),
    # data capture
    _case(
        "endpoints[0].data_capture",
        {"sampling_percentage": 101},
        "endpoints[0].data_capture.sampling_percentage",
        "less than or equal to 100",
    ),
    _case(
        "endpoints[0].data_capture",
        {"capture_input": False, "capture_output": False},
        "endpoints[0].data_capture",
        "enable at least one",
    ),
    # deployment guardrails
    _case(
        f"{BLUE_GREEN}.traffic_shift",
        {"type": "CANARY", "size_percent": 60},
        f"{BLUE_GREEN}.traffic_shift",
        "size_percent 60 is not allowed for CANARY; allowed: 1-50",
    ),
    _case(
        f"{BLUE_GREEN}.traffic_shift",
        {"type": "LINEAR", "size_percent": 5},
        f"{BLUE_GREEN}.traffic_shift",
        "size_percent 5 is not allowed for LINEAR; allowed: 10-50",
    ),
    _case(
        f"{BLUE_GREEN}.traffic_shift",
        {"type": "LINEAR", "size_percent": 60},
        f"{BLUE_GREEN}.traffic_shift",
        "allowed: 10-50",
    ),
    _case(
        f"{BLUE_GREEN}.traffic_shift",
        {"type": "ALL_AT_ONCE", "size_percent": 10},
        f"{BLUE_GREEN}.traffic_shift",
        "not used with ALL_AT_ONCE",
    ),
    _case(
        f"{BLUE_GREEN}.traffic_shift",
        {"type": "BIG_BANG"},
        f"{BLUE_GREEN}.traffic_shift.type",
        "'ALL_AT_ONCE', 'CANARY' or 'LINEAR'",
    ),
    _case(
        f"{BLUE_GREEN}.traffic_shift.wait_interval_seconds",
        4000,
        f"{BLUE_GREEN}.traffic_shift.wait_interval_seconds",
        "less than or equal to 3600",
    ),
    _case(
        f"{BLUE_GREEN}.termination_wait_seconds",
        4000,
        f"{BLUE_GREEN}.termination_wait_seconds",
        "less than or equal to 3600",
    ),
    _case(
        f"{BLUE_GREEN}.maximum_execution_timeout_seconds",
        500,
        f"{BLUE_GREEN}.maximum_execution_timeout_seconds",
        "greater than or equal to 600",
    ),
    _case(
        f"{BLUE_GREEN}.maximum_execution_timeout_seconds",
        30000,
        f"{BLUE_GREEN}.maximum_execution_timeout_seconds",
        "less than or equal to 28800",
    ),
    _case(
        BLUE_GREEN,
        {
            "traffic_shift": {"type": "LINEAR", "size_percent": 10, "wait_interval_seconds": 600},
            "maximum_execution_timeout_seconds": 3600,
        },
        BLUE_GREEN,
        "must be longer than the waits (6000 s",
    ),
    _case(
        "endpoints[0].deployment",
        {"blue_green": {}, "rolling": {}},
        "endpoints[0].deployment",
        "exactly one update policy",
    ),
    _case("endpoints[0].deployment", {}, "endpoints[0].deployment", "exactly one update policy"),
    _case(
        "endpoints[0].deployment",
        {"rolling": {"maximum_batch_percent": 60}},
        "endpoints[0].deployment.rolling.maximum_batch_percent",
        "less than or equal to 50",
    ),
    _case(
        "endpoints[0].deployment",
        {"rolling": {"maximum_batch_percent": 4}},
        "endpoints[0].deployment.rolling.maximum_batch_percent",
        "greater than or equal to 5",
    ),
    _case(
        "endpoints[0].deployment",
        {"rolling": {"wait_interval_seconds": 900, "maximum_execution_timeout_seconds": 900}},
        "endpoints[0].deployment.rolling",
        "longer than wait_interval_seconds 900",
    ),
    _case(
        "endpoints[0].deployment.rollback_alarms",
        {"endpoint_alarms": []},
        "endpoints[0].deployment.rollback_alarms",
        "0 rollback alarms; allowed: 1-10",
    ),
    _case(
        "endpoints[0].deployment.rollback_alarms",
        {"max_p90_model_latency_ms": 300},
        "endpoints[0].deployment.rollback_alarms",
        "max_p90_model_latency_ms moved to alarms.latency (statistic: p90, max_ms: ...)",
    ),
    _case(
        "endpoints[0].alarms.max_5xx_errors_per_minute",
        None,
        "endpoints[0]",
        "endpoint_alarms lists 'errors' but alarms.max_5xx_errors_per_minute is null",
    ),
    _case(
        "endpoints[0].alarms.latency",
        {"statistic": "p100.5", "max_ms": 300},
        "endpoints[0].alarms.latency.statistic",
        "'p100.5' is not a percentile CloudWatch accepts",
    ),
    _case(
        "endpoints[0].alarms.waste",
        {"min_invocations_per_instance_per_hour": 100, "hours": 200},
        "endpoints[0].alarms.waste.hours",
        "less than or equal to 168",
    ),
    _case(
        f"{SL}.alarms",
        {"waste": {"min_invocations_per_instance_per_hour": 1}},
        SL,
        "serverless bills per request",
    ),
    _case("idle_guard", {"idle_hours": 0}, "idle_guard.idle_hours", "greater than or equal to 1"),
    _case(
        "endpoints[0].deployment.rollback_alarms",
        {"additional_alarm_names": [f"team-alarm-{i}" for i in range(9)]},
        "endpoints[0].deployment.rollback_alarms",
        "11 rollback alarms; allowed: 1-10",
    ),
    # serverless (endpoints[1] in dev.yaml)
    _case(f"{SL}.memory_size_mb", 3000, SL, "memory_size_mb 3000 is not allowed; allowed: 1024, 2048, 3072"),
    _case(f"{SL}.max_concurrency", 500, f"{SL}.max_concurrency", "less than or equal to 200"),
    _case(f"{SL}.provisioned_concurrency", 201, f"{SL}.provisioned_concurrency", "less than or equal to 200"),
    _case(f"{SL}.provisioned_concurrency", 50, SL, "provisioned_concurrency 50 > max_concurrency 5"),
    _case(
        f"{SL}.instance_type",
        "ml.m5.large",
        SL,
        "'instance_type' is not allowed: serverless endpoints have no",
    ),
    _case(f"{SL}.variants", [], SL, "'variants' is not allowed: serverless endpoints have one variant"),
    _case(
        f"{SL}.data_capture",
        {},
        SL,
        "'data_capture' is not allowed: serverless endpoints do not support data",
    ),
    _case(f"{SL}.network_isolation", True, SL, "serverless endpoints do not support network isolation"),
    _case(
        f"{SL}.network_isolation",
        DELETE,
        "",
        "do not support network isolation: set network_isolation: false",
    ),
    _case(
        "model.vpc",
        {"subnet_ids": ["subnet-0123456789abcdef0"], "security_group_ids": ["sg-0123456789abcdef0"]},
        "",
        "serverless endpoints cannot run in a VPC",
    ),
    _case(f"{SL}.deployment", {"rolling": {}}, SL, "rolling updates do not support serverless endpoints"),
    _case(
        f"{SL}.provisioned_concurrency_scaling",
        {"min_capacity": 1, "max_capacity": 2},
        SL,
        "provisioned_concurrency_scaling needs provisioned_concurrency",
    ),
    # batch (endpoints[3] in dev.yaml)
    _case(f"{BT}.max_payload_mb", 101, f"{BT}.max_payload_mb", "less than or equal to 100"),
    _case(
        f"{BT}.max_concurrent_transforms",
        20,
        BT,
        "6 x max_concurrent_transforms 20 = 120 MB; allowed: at most 100",
    ),
    _case(f"{BT}.schedule", {"cron": "0 2 * * *"}, f"{BT}.schedule.cron", "must have 6 fields"),
    _case(f"{BT}.input_path", "batch/input/", f"{BT}.input_path", "must be an s3:// prefix"),
    _case(
        f"{BT}.instance_type", "ml.m5.huge", f"{BT}.instance_type", "not a SageMaker transform job instance"
    ),
    _case(f"{BT}.job_name_prefix", "a" * 27, f"{BT}.job_name_prefix", "String should match pattern"),
    # async (endpoints[2] in dev.yaml)
    _case(
        f"{AS}.max_concurrent_invocations_per_instance",
        2000,
        f"{AS}.max_concurrent_invocations_per_instance",
        "less than or equal to 1000",
    ),
    _case(f"{AS}.output_path", "bucket/out", f"{AS}.output_path", "must be an s3:// prefix ending in '/'"),
    _case(
        f"{AS}.invocation_timeout_seconds",
        7200,
        f"{AS}.invocation_timeout_seconds",
        "less than or equal to 3600",
    ),
    _case(f"{AS}.autoscaling.min_capacity", 2, f"{AS}.autoscaling", "min_capacity 2 > max_capacity 1"),
    _case(
        f"{AS}.autoscaling.min_capacity", -1, f"{AS}.autoscaling.min_capacity", "greater than or equal to 0"
    ),
    _case(f"{AS}.instance_type", "ml.t2.medium", AS, "not supported on burstable instance ml.t2.medium"),
    _case(f"{AS}.initial_instance_count", 3, AS, "initial_instance_count 3 > autoscaling.max_capacity 1"),
    _case(f"{AS}.success_topic_arn", "my-topic", f"{AS}.success_topic_arn", "String should match pattern"),
    # an unknown key in a block lists that block's own keys
    _case(
        "endpoints[0].colour",
        "blue",
        "endpoints[0].colour",
        "allowed keys: type, network_isolation, endpoint_name, deployment, alarms",
    ),
    _case(f"{SL}.colour", "blue", f"{SL}.colour", "alarms, variant_name, memory_size_mb, max_concurrency,"),
    _case(f"{AS}.colour", "blue", f"{AS}.colour", "variant_name, instance_type, initial_instance_count,"),
    # environment level
    _case("colour", "blue", "colour", "unknown key; allowed keys: project, environment"),
    _case("environment", "Prod_EU", "environment", "lowercase letters, digits and hyphens, 1-16 characters"),
    _case("model", DELETE, "model", "required key is missing"),
    _case("model.artifact", {"s3_uri": "bucket/out"}, "model.artifact.s3_uri", "must be an s3:// URI"),
    _case("model.artifact", {"s3_prefix": "s3://b-1/no-slash"}, "model.artifact.s3_prefix", "ending in '/'"),
    _case(
        "model.artifact",
        {"s3_uri": "s3://b-1/m.tar.gz", "s3_prefix": "s3://b-1/m/"},
        "model.artifact",
        "exactly one of s3_uri, s3_prefix or build (got s3_uri, s3_prefix)",
    ),
    _case(
        "model.artifact.build.code_dir", DELETE, "model.artifact.build.code_dir", "required key is missing"
    ),
    _case("model.image", {}, "model.image", "exactly one of 'uri' or 'framework'"),
    _case("model.image", {"framework": "pytorch"}, "model.image", "'framework' needs 'framework_version'"),
    _case("model.image", {"uri": "nginx:latest"}, "model.image.uri", "String should match pattern"),
    _case(
        "model.vpc",
        {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-0123456789abcdef0"]},
        "model.vpc.subnet_ids[0]",
        "String should match pattern",
    ),
    _case("tags", {"owner": "me"}, "", "tags must include cost-center"),
    _case("region", "Europe", "region", "not a region where SageMaker runs"),
    _case("region", "us-mars-1", "region", "write a region code such as us-east-1"),
    _case("project", "My_Project", "project", "lowercase letters, digits and hyphens, 3-32 characters"),
    _case("account", "12345", "account", "String should match pattern"),
    _case("default_endpoint_type", "stream", "", "default_endpoint_type 'stream' has no block"),
    _case(
        "endpoints[0].type",
        "serverless-gpu",
        "endpoints[0].type",
        "unknown endpoint type; allowed: 'realtime'",
    ),
    _case("endpoints", [BASE["endpoints"][0]] * 2, "", "one block per endpoint type; repeated: realtime"),
    _case("environment", "qa", "environment", "must match the file name 'dev'"),
]


@pytest.mark.parametrize(("path", "value", "where", "fragment"), CASES)
def test_each_rule_rejects_bad_value_with_path_and_allowed(
    path: str, value: Any, where: str, fragment: str
) -> None:
    # GIVEN dev.yaml with one bad value, WHEN it is validated
    error = config_error(**{path.replace(".", "__"): value})
    # THEN one problem names the field path and says what is allowed
    assert len(error.problems) == 1, str(error)
    problem = error.problems[0]
    assert problem.path == where, str(error)
    assert fragment in problem.message, str(error)
    assert str(error).startswith("endpoint_configs/dev.yaml: 1 problem\n")


def test_batch_multi_record_without_records_is_rejected() -> None:
    # GIVEN a batch block batching records of objects that are not split into records
    error = config_error(endpoints__3__batch_strategy="MultiRecord", endpoints__3__split_type="None")
    # THEN the one problem says what to set
    assert [p.path for p in error.problems] == [BT]
    assert "MultiRecord needs records: set split_type Line, RecordIO or TFRecord" in error.problems[0].message


def test_batch_output_inside_the_input_is_rejected() -> None:
    # GIVEN results written under the prefix the next run reads
    error = config_error(
        endpoints__3__input_path="s3://batch-data-b/in/",
        endpoints__3__output_path="s3://batch-data-b/in/out/",
    )
    # THEN the one problem names the loop
    assert [p.path for p in error.problems] == [BT]
    assert "is inside input_path s3://batch-data-b/in/" in error.problems[0].message


def test_bad_value_is_shown_in_the_message() -> None:
    error = config_error(endpoints__0__variants__0__volume_size_gb=900)
    assert "endpoints[0].variants[0].volume_size_gb = 900: Input should be less than" in str(error)


def test_all_problems_are_reported_together() -> None:
    # GIVEN three independent mistakes
    error = config_error(
        colour="blue",
        model__artifact={"s3_uri": "bucket/out"},
        endpoints__0__variants__0__instance_type="ml.x9.large",
    )
    # THEN all three are in one message
    assert sorted(p.path for p in error.problems) == [
        "colour",
        "endpoints[0].variants[0].instance_type",
        "model.artifact.s3_uri",
    ]
    assert str(error).startswith("endpoint_configs/dev.yaml: 3 problems")


def test_rolling_update_is_rejected_for_multi_variant_endpoints() -> None:
    variant = BASE["endpoints"][0]["variants"][0]
    error = config_error(
        endpoints__0__variants=[variant, {**variant, "name": "challenger"}],
        endpoints__0__deployment={"rolling": {}},
    )
    assert error.problems[0].path == "endpoints[0]"
    assert "rolling updates are not supported on multi-variant endpoints" in error.problems[0].message


def test_more_than_ten_variants_are_rejected() -> None:
    variant = {k: v for k, v in BASE["endpoints"][0]["variants"][0].items() if k != "autoscaling"}
    error = config_error(endpoints__0__variants=[{**variant, "name": f"v{i}"} for i in range(11)])
    assert error.problems[0].path == "endpoints[0].variants"
    assert "at most 10 items" in error.problems[0].message


def test_duplicate_variant_names_are_rejected() -> None:
    variant = BASE["endpoints"][0]["variants"][0]
    error = config_error(endpoints__0__variants=[variant, variant])
    assert "variant names must be unique; repeated: AllTraffic" in error.problems[0].message


def test_framework_image_that_does_not_exist_is_rejected() -> None:
    error = config_error(
        model__image={"framework": "pytorch", "framework_version": "0.1", "py_version": "py312"}
    )
    assert error.problems[0].path == "model.image"
    assert "no pytorch 0.1 py312 inference image for ml.m5.large in us-east-1" in error.problems[0].message


def test_yaml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("project: [unclosed\n", source="endpoint_configs/dev.yaml")
    assert caught.value.problems[0].path.startswith("line 2, column 1")
    assert "not valid YAML" in str(caught.value)


def test_file_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(ConfigError, match="must hold a mapping of keys"):
        parse_config("- just\n- a list\n", source="endpoint_configs/dev.yaml")


def test_missing_environment_file_lists_the_environments() -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment_config("qa")
    assert "endpoint_configs/qa.yaml" in str(caught.value)
    assert "no such environment file; allowed: dev, llm, llm-large, neo, prod, staging" in str(caught.value)


def test_unknown_endpoint_type_flag_lists_every_workload_kind() -> None:
    config = load_environment_config("dev")
    with pytest.raises(
        ConfigError,
        match=r"endpoint_type = 'stream': unknown endpoint type; allowed: realtime, serverless, async",
    ):
        resolve_endpoint_type(config, "stream", source="-c endpoint_type")


def test_endpoint_type_the_environment_does_not_offer_lists_offered_types() -> None:
    config = load_environment_config("staging")
    with pytest.raises(
        ConfigError, match=r"endpoint_type = 'async': not offered by 'staging'; allowed: realtime, serverless"
    ):
        resolve_endpoint_type(config, "async", source="-c endpoint_type")


def test_default_endpoint_type_flag_selects_the_configured_default() -> None:
    config = load_environment_config("dev")
    assert resolve_endpoint_type(config, "default", source="-c endpoint_type") == "realtime"
    assert resolve_endpoint_type(config, None, source="-c endpoint_type") == "realtime"


@pytest.mark.parametrize("env", available_environments())
def test_shipped_environment_files_are_valid(env: str) -> None:
    config = load_environment_config(env)
    assert config.environment == env
    assert config.tags["cost-center"]


def test_target_invocations_come_from_measured_throughput_and_safety_factor() -> None:
    scaling = block_of(load_environment_config("prod"), RealtimeEndpoint).variants[0].autoscaling
    assert scaling is not None
    # 80 requests/s per instance x 60 s x 0.6 safety factor
    assert scaling.target_invocations_per_instance == 2880.0


def test_name_pattern_alone_admits_names_longer_than_the_limit() -> None:
    hyphenated = "a" + "-" * 70 + "b"
    assert limits.NAME_PATTERN.match(hyphenated)
    assert len(hyphenated) > limits.NAME_MAX_LENGTH


def test_a_key_given_twice_is_rejected_with_both_lines() -> None:
    # GIVEN a file that sets project twice (YAML keeps the last one silently)
    text = (CONFIG_DIR / "dev.yaml").read_text() + "project: other-project\n"
    # WHEN it is parsed THEN the error names the repeated key and both lines
    with pytest.raises(ConfigError, match=r"line \d+: key 'project' is given twice \(first on line \d+\)"):
        parse_config(text, source="endpoint_configs/dev.yaml")


def test_async_schedules_may_scale_to_zero() -> None:
    data = copy.deepcopy(BASE)
    data["endpoints"][2]["autoscaling"]["schedules"] = [
        {"name": "nights", "cron": "0 20 ? * * *", "min_capacity": 0, "max_capacity": 1}
    ]
    config = parse_config(yaml.safe_dump(data), source="dev.yaml")
    scaling = block_of(config, AsyncEndpoint).autoscaling
    assert scaling is not None
    assert scaling.schedules[0].min_capacity == 0


def test_environment_names_are_free_and_match_the_file(tmp_path: Path) -> None:
    data = {**copy.deepcopy(BASE), "environment": "eu-prod"}
    del data["idle_guard"]  # dev's deletes; a production name may not without an override
    (tmp_path / "eu-prod.yaml").write_text(yaml.safe_dump(data))
    assert available_environments(tmp_path) == ["eu-prod"]
    assert (
        load_environment_config("eu-prod", tmp_path).stack_name("async") == "minilm-embeddings-eu-prod-async"
    )


def _serverless(**block: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["endpoints"][1].update(block)
    return data


@pytest.mark.parametrize(
    ("bounds", "fragment"),
    [
        ((3, 4), "provisioned_concurrency 2 is outside its scaling bounds 3-4"),
        ((1, 9), "max_capacity 9 > max_concurrency 5"),
        ((3, 1), "min_capacity 3 > max_capacity 1"),
    ],
)  # fmt: skip
def test_provisioned_concurrency_scaling_bounds_are_checked(bounds: tuple[int, int], fragment: str) -> None:
    scaling = {"min_capacity": bounds[0], "max_capacity": bounds[1]}
    block = _serverless(provisioned_concurrency=2, provisioned_concurrency_scaling=scaling)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(block), source="dev.yaml")
    assert fragment in str(caught.value)


def test_serverless_memory_below_the_models_estimate_is_rejected() -> None:
    # GIVEN 1024 MB for a model whose manifest estimates 1128 MB to serve
    config = parse_config(yaml.safe_dump(_serverless(memory_size_mb=1024)), source="dev.yaml")
    # WHEN checked against the estimate
    (problem,) = memory_problems(config, "serverless", 1128 * 1024**2)
    # THEN the field, the value and the smallest size that fits are named
    assert problem.path == "endpoints[1].memory_size_mb"
    assert problem.value == 1024
    assert (
        problem.message
        == "the packaged model needs about 1128 MB to serve (manifest estimate); allowed: at least 2048"
    )


def test_model_larger_than_any_serverless_size_is_told_so() -> None:
    config = load_environment_config("dev")
    (problem,) = memory_problems(config, "serverless", 7000 * 1024**2)
    assert "none: the model needs more than serverless offers" in problem.message


def test_memory_check_passes_when_the_model_fits_and_ignores_real_time() -> None:
    config = load_environment_config("dev")  # serverless 1024 MB
    assert memory_problems(config, "serverless", 1024 * 1024**2) == []
    assert memory_problems(config, "serverless", 1025 * 1024**2) != []
    assert memory_problems(config, "realtime", 100 * 1024**3) == []


def test_only_async_endpoints_may_scale_to_zero() -> None:
    # GIVEN min_capacity 0 on a real-time variant and on the async block
    realtime = config_error(endpoints__0__variants__0__autoscaling__min_capacity=0)
    config = load_environment_config("dev")
    # THEN real-time is refused with the reason, async keeps 0
    assert "only async endpoints may scale to zero" in realtime.problems[0].message

    scaling = block_of(config, AsyncEndpoint).autoscaling
    assert scaling is not None
    assert scaling.min_capacity == 0


@pytest.mark.parametrize("environment", ["prod", "production", "eu-prod", "prod-2"])
def test_idle_guard_refuses_to_delete_in_production_unless_allowed(environment: str) -> None:
    # GIVEN a production environment whose idle guard would delete its endpoint
    data = copy.deepcopy(BASE)
    data["environment"] = environment
    data["idle_guard"] = {"idle_hours": 12, "action": "delete"}
    # WHEN parsed, THEN one problem at idle_guard names the environment and the way out
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), source=f"{environment}.yaml", expected_env=environment)
    (problem,) = caught.value.problems
    assert problem.path == "idle_guard"
    assert f"action 'delete' in production environment '{environment}'" in problem.message
    assert "allow_delete_in_production: true" in problem.message
    # AND an explicit override, or a name that is not production, is accepted
    data["idle_guard"]["allow_delete_in_production"] = True
    assert parse_config(yaml.safe_dump(data), source="x.yaml", expected_env=environment).idle_guard
    data.update(environment="products", idle_guard={"idle_hours": 12, "action": "delete"})
    assert parse_config(yaml.safe_dump(data), source="x.yaml", expected_env="products").idle_guard
