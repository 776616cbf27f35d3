"""EndpointIdleGuard on a bare stack: the idle alarm sums invocations over every variant by the hour,
missing data counts as idle, it notifies the topic; with ``delete`` a Lambda function that may only
describe and delete the one endpoint is the alarm's second action; the construct is cdk-nag clean;
bad props are refused before anything is synthesized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from sagemaker_constructs.compliance import RULE_PACKS
from sagemaker_constructs.idle_guard import HANDLER_DIR, EndpointIdleGuard
from tests.sagemaker_constructs.support import acknowledged, bare_stack, logical_id, nag_findings

ENDPOINT = "Proj-Dev-Realtime"
"""Mixed case on purpose: SageMaker ARNs are lower-case, metric dimensions are not."""
VARIANTS = ("blue", "green")
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Guards:
    template: Template
    topic: sns.Topic
    notify: EndpointIdleGuard
    delete: EndpointIdleGuard


def _guard(stack: cdk.Stack, construct_id: str, topic: sns.ITopic, **props: Any) -> EndpointIdleGuard:
    settings: dict[str, Any] = {
        "endpoint_name": ENDPOINT,
        "variant_names": VARIANTS,
        "endpoint_config_name": "proj-dev-realtime-config",
        "idle_hours": 6,
        "delete": False,
        "alarm_topic": topic,
    }
    settings.update(props)
    return EndpointIdleGuard(stack, construct_id, **settings)


@pytest.fixture(scope="module")
def guards() -> Guards:
    stack = bare_stack("IdleGuardCheck")
    topic = sns.Topic(stack, "Alarms")
    notify = _guard(stack, "Notify", topic, endpoint_name="proj-dev-async", variant_names=["AllTraffic"])
    delete = _guard(
        stack, "Delete", topic, delete=True, idle_hours=168, key=kms.Key.from_key_arn(stack, "Key", KEY_ARN)
    )
    return Guards(Template.from_stack(stack), topic, notify, delete)


def _resource(template: Template, guard: EndpointIdleGuard, construct: Any) -> dict[str, Any]:
    resources: dict[str, Any] = template.to_json()["Resources"]
    return dict(resources[logical_id(construct)])


def _invocations(metric_id: str, variant: str, endpoint: str = ENDPOINT) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": variant},
                ],
            },
            "Period": 3600,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


def test_the_alarm_sums_every_variants_invocations_by_the_hour_and_missing_data_is_idle(
    guards: Guards,
) -> None:
    alarm = _resource(guards.template, guards.delete, guards.delete.alarm)["Properties"]
    expression, *metrics = alarm["Metrics"]
    assert {name: value for name, value in expression.items() if name != "Id"} == {
        "Expression": "FILL(m0,0)+FILL(m1,0)",
        "Label": "Invocations, all variants",
        "ReturnData": True,
    }
    assert metrics == [_invocations("m0", "blue"), _invocations("m1", "green")]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["EvaluationPeriods"] == 168
    assert alarm["TreatMissingData"] == "breaching"
    assert "Period" not in alarm  # the period is the metrics' own
    assert "DatapointsToAlarm" not in alarm  # every hour of the window


def test_a_one_variant_endpoint_is_one_filled_metric(guards: Guards) -> None:
    alarm = _resource(guards.template, guards.notify, guards.notify.alarm)["Properties"]
    assert [m.get("Expression") for m in alarm["Metrics"]] == ["FILL(m0,0)", None]
    assert alarm["Metrics"][1] == _invocations("m0", "AllTraffic", "proj-dev-async")
    assert alarm["EvaluationPeriods"] == 6


def test_notify_only_sends_to_the_topic_and_says_what_to_do(guards: Guards) -> None:
    alarm = _resource(guards.template, guards.notify, guards.notify.alarm)["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": logical_id(guards.topic)}]
    assert guards.notify.function is None
    description = alarm["AlarmDescription"]
    assert description.startswith("proj-dev-async has had no invocations for 6 hours in a row")
    for advice in ("delete it", "serverless", "asynchronous with scale to zero", "make advise"):
        assert advice in description


def test_delete_adds_the_function_as_the_alarms_second_action(guards: Guards) -> None:
    assert guards.delete.function is not None
    function_id = logical_id(guards.delete.function)
    alarm = _resource(guards.template, guards.delete, guards.delete.alarm)["Properties"]
    assert alarm["AlarmActions"] == [
        {"Ref": logical_id(guards.topic)},
        {"Fn::GetAtt": [function_id, "Arn"]},
    ]
    assert "deletes the endpoint now; its endpoint config and model stay" in alarm["AlarmDescription"]
    assert guards.delete.restore_command in alarm["AlarmDescription"]
    # CloudWatch may invoke it, for this alarm only
    guards.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "lambda.alarms.cloudwatch.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [logical_id(guards.delete.alarm), "Arn"]},
        },
    )
    guards.template.resource_count_is("AWS::Lambda::Permission", 1)


def test_the_function_is_the_handler_directory_on_arm_with_the_endpoint_name(guards: Guards) -> None:
    assert guards.delete.function is not None
    function = _resource(guards.template, guards.delete, guards.delete.function)
    properties = function["Properties"]
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.14", ["arm64"])
    assert properties["Handler"] == "index.handler"
    assert (HANDLER_DIR / "index.py").is_file()
    assert properties["Environment"] == {
        "Variables": {"ENDPOINT_NAME": ENDPOINT, "ALARM_NAME": f"{ENDPOINT}-idle-guard"}
    }
    # its own log group, kept a month, encrypted with the key given
    log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = guards.template.to_json()["Resources"][log_group_id]["Properties"]
    assert log_group == {"KmsKeyId": KEY_ARN, "RetentionInDays": 30}
    # invocations wait for the role's policy, not only the role
    (policy_id,) = guards.template.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("^Delete")}]}}
    )
    assert function["DependsOn"] == [policy_id]


def test_the_role_may_only_delete_that_one_endpoint_reset_its_alarm_and_write_its_logs(
    guards: Guards,
) -> None:
    assert guards.delete.function is not None
    policies = guards.template.find_resources("AWS::IAM::ManagedPolicy")
    (policy,) = [p for p in policies.values() if p["Properties"]["Roles"][0]["Ref"].startswith("Delete")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    log_group_id = _resource(guards.template, guards.delete, guards.delete.function)["Properties"][
        "LoggingConfig"
    ]["LogGroup"]["Ref"]
    assert statements == [
        {
            "Action": ["sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"],
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/proj-dev-realtime",
        },
        {
            "Action": "cloudwatch:SetAlarmState",
            "Effect": "Allow",
            "Resource": f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{ENDPOINT}-idle-guard",
        },
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [log_group_id, "Arn"]}, ":*"]]},
        },
    ]
    # no AWS managed policy, no inline policy
    for role in guards.template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]
    guards.template.resource_count_is("AWS::IAM::Policy", 0)


def test_the_arn_follows_the_stacks_partition_region_and_account_when_they_are_tokens() -> None:
    stack = bare_stack("AgnosticIdleGuard", env=None)
    guard = _guard(stack, "Guard", sns.Topic(stack, "Alarms"), delete=True)
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
    sagemaker_statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert sagemaker_statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sagemaker:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":endpoint/proj-dev-realtime",
            ],
        ]
    }
    assert guard.function is not None


def test_the_restore_command_recreates_the_endpoint_from_its_config(guards: Guards) -> None:
    assert guards.delete.restore_command == (
        "aws sagemaker create-endpoint --endpoint-name Proj-Dev-Realtime "
        "--endpoint-config-name proj-dev-realtime-config"
    )


def test_the_restore_command_takes_a_config_name_token() -> None:
    stack = bare_stack("TokenIdleGuard")
    config = cdk.CfnResource(stack, "Config", type="AWS::SageMaker::EndpointConfig")
    config_name = cdk.Token.as_string(config.get_att("EndpointConfigName"))
    guard = _guard(stack, "Guard", sns.Topic(stack, "Alarms"), endpoint_config_name=config_name)
    assert stack.resolve(guard.restore_command) == {
        "Fn::Join": [
            "",
            [
                "aws sagemaker create-endpoint --endpoint-name Proj-Dev-Realtime --endpoint-config-name ",
                {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
            ],
        ]
    }


def test_the_construct_creates_no_outputs(guards: Guards) -> None:
    assert guards.template.find_outputs("*") == {}


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
def test_cdk_nag_finds_nothing_unacknowledged(guards: Guards, pack: type[cdk_nag.NagPack]) -> None:
    assert nag_findings(guards.notify, pack) == []
    assert nag_findings(guards.delete, pack) == []


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
def test_without_a_key_the_unencrypted_log_group_is_acknowledged(pack: type[cdk_nag.NagPack]) -> None:
    stack = bare_stack("KeylessIdleGuard")
    guard = _guard(stack, "Guard", sns.Topic(stack, "Alarms"), delete=True)
    assert nag_findings(guard, pack) == []
    log_group = guard.node.find_child("Logs")
    assert "HIPAA.Security-CloudWatchLogGroupEncrypted" in acknowledged(log_group)


def test_every_acknowledgment_has_a_reason_and_checkov_skips_match(guards: Guards) -> None:
    assert guards.delete.function is not None
    rules = acknowledged(guards.delete.function)
    assert set(rules) == {
        "HIPAA.Security-LambdaDLQ",
        "HIPAA.Security-LambdaConcurrency",
        "HIPAA.Security-LambdaInsideVPC",
    }
    assert all(len(reason) >= 40 for reason in rules.values())
    skips = _resource(guards.template, guards.delete, guards.delete.function)["Metadata"]["checkov"]["skip"]
    assert {s["id"] for s in skips} == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}
    assert all(len(s["comment"]) >= 40 for s in skips)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"idle_hours": 0}, r"idle_hours 0: allowed 1-168"),
        ({"idle_hours": 169}, r"idle_hours 169: allowed 1-168"),
        ({"idle_hours": True}, r"idle_hours True: allowed 1-168"),
        ({"variant_names": []}, "variant_names is empty"),
        ({"variant_names": [f"v{i}" for i in range(11)]}, "11 variant names: an endpoint has at most 10"),
        ({"variant_names": ["a", "a"]}, "variant_names repeats a name"),
        ({"endpoint_name": cdk.Aws.STACK_NAME}, "endpoint_name must be known at synth time"),
    ],
    ids=["zero-hours", "over-a-week", "bool-hours", "no-variants", "eleven-variants", "repeated", "token"],
)
def test_bad_props_are_refused(props: dict[str, Any], message: str) -> None:
    # GIVEN a bare stack
    stack = bare_stack("RefusedIdleGuard")
    topic = sns.Topic(stack, "Alarms")
    # WHEN the guard gets a prop it cannot honour, THEN it refuses, naming the value and what is allowed
    with pytest.raises(ValueError, match=message):
        _guard(stack, "Guard", topic, delete=True, **props)
    # and nothing of it was added to the stack
    assert stack.node.try_find_child("Guard") is None or not stack.node.find_child("Guard").node.children
