"""The batch transform stack: the transform task's parameters, the schedule, logging and tracing,
notifications, the failed-run alarm and the scope of both roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SynthesizedEnvironment, synthesize

BUCKET_ARN = {"Fn::ImportValue": "minilm-embeddings-dev-stateful-bucket-arn"}
BUCKET_NAME = {"Fn::ImportValue": "minilm-embeddings-dev-stateful-bucket-name"}
KEY_ARN = {"Fn::ImportValue": "minilm-embeddings-dev-stateful-key-arn"}
PREFIX = "minilm-embedding-dev-batch"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("dev", tmp_path_factory.mktemp("dev-batch"), "batch")


def _all(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("batch").find_resources(type_name))


def _only(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    (resource,) = _all(env, type_name).values()
    return dict(resource)


def _definition(env: SynthesizedEnvironment) -> dict[str, Any]:
    """The state machine's definition with each token replaced by a readable marker."""
    parts = _only(env, "AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else _marker(part) for part in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _marker(token: dict[str, Any]) -> str:
    """``<name>`` for an ImportValue or Ref, ``<Resource.Attribute>`` for a GetAtt."""
    ((function, argument),) = token.items()
    return f"<{'.'.join(argument) if function == 'Fn::GetAtt' else argument}>"


def _statements(env: SynthesizedEnvironment, policy_prefix: str) -> list[dict[str, Any]]:
    policies = _all(env, "AWS::IAM::ManagedPolicy")
    return [
        statement
        for logical_id, policy in policies.items()
        if logical_id.startswith(policy_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_task_runs_a_transform_job_to_completion_with_the_configured_parameters(
    dev: SynthesizedEnvironment,
) -> None:
    task = _definition(dev)["States"]["RunTransformJob"]
    assert task["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    parameters = task["Parameters"]
    assert parameters["TransformJobName.$"] == f"States.Format('{PREFIX}-{{}}', States.UUID())"
    assert parameters["TransformInput"]["SplitType"] == "Line"
    assert parameters["TransformInput"]["ContentType"] == "application/json"
    assert parameters["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    assert parameters["TransformOutput"]["AssembleWith"] == "Line"
    assert parameters["TransformOutput"]["Accept"] == "application/json"
    assert parameters["TransformResources"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeKmsKeyId": "<minilm-embeddings-dev-stateful-key-arn>",
    }
    assert (
        parameters["BatchStrategy"],
        parameters["MaxPayloadInMB"],
        parameters["MaxConcurrentTransforms"],
    ) == (
        "SingleRecord",
        6,
        1,
    )
    assert task["TimeoutSeconds"] == 60 * 60
    assert task["ResultPath"] == "$.job"


def test_job_names_fit_sagemakers_limit() -> None:
    # <prefix>-<uuid>: the prefix is at most 26 characters, a UUID 36, the limit 63.
    assert len(PREFIX) + 1 + 36 <= 63


def test_throttling_and_capacity_errors_are_retried_with_backoff(dev: SynthesizedEnvironment) -> None:
    (retry,) = _definition(dev)["States"]["RunTransformJob"]["Retry"]
    assert retry["ErrorEquals"] == ["SageMaker.ThrottlingException", "SageMaker.ResourceLimitExceeded"]
    assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (60, 4, 2)


def test_success_and_failure_are_published_and_a_failure_fails_the_run(dev: SynthesizedEnvironment) -> None:
    states = _definition(dev)["States"]
    assert states["RunTransformJob"]["Next"] == "NotifySuccess"
    (catch,) = states["RunTransformJob"]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"
    topic = _all(dev, "AWS::SNS::Topic")
    (topic_id,) = topic
    assert topic[topic_id]["Properties"]["KmsMasterKeyId"] == KEY_ARN


def test_executions_log_everything_encrypted_and_are_traced(dev: SynthesizedEnvironment) -> None:
    properties = _only(dev, "AWS::StepFunctions::StateMachine")["Properties"]
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert properties["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert properties["TracingConfiguration"] == {"Enabled": True}
    log_group = _only(dev, "AWS::Logs::LogGroup")["Properties"]
    assert log_group["KmsKeyId"] == KEY_ARN
    assert log_group["RetentionInDays"] == 90


def _schedules(env: SynthesizedEnvironment) -> dict[str, dict[str, Any]]:
    return {
        json.loads(s["Properties"]["Target"]["Input"])["trigger"]: s["Properties"]
        for s in _all(env, "AWS::Scheduler::Schedule").values()
    }


def test_the_schedule_starts_the_state_machine_in_its_time_zone(dev: SynthesizedEnvironment) -> None:
    schedule = _schedules(dev)["schedule"]
    assert schedule["ScheduleExpression"] == "cron(0 2 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["Target"]["Arn"] == {"Ref": next(iter(_all(dev, "AWS::StepFunctions::StateMachine")))}
    (start,) = _statements(dev, "SchedulePolicy")
    assert start["Action"] == "states:StartExecution"


def test_new_objects_under_the_input_prefix_queue_up_for_the_next_check(dev: SynthesizedEnvironment) -> None:
    rule = _only(dev, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.s3"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    assert rule["EventPattern"]["detail"]["object"] == {"key": [{"prefix": "batch/input/"}]}
    (queue_id,) = _all(dev, "AWS::SQS::Queue")
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    check = _schedules(dev)["new-objects"]
    assert check["ScheduleExpression"] == "rate(15 minutes)"


def test_a_check_runs_one_job_for_all_new_input_or_none_without_any(dev: SynthesizedEnvironment) -> None:
    states = _definition(dev)["States"]
    started_by_check = states[_definition(dev)["StartAt"]]
    assert started_by_check["Type"] == "Choice"
    assert started_by_check["Default"] == "RunTransformJob"
    assert started_by_check["Choices"][0]["Next"] == "CountNewInput"
    has_new = states["HasNewInput"]
    assert has_new["Choices"][0] == {
        "Variable": "$.newInput.waiting",
        "NumericGreaterThan": 0,
        "Next": "ClearNewInput",
    }
    assert has_new["Default"] == "NothingNew"
    assert states["ClearNewInput"]["Next"] == "RunTransformJob"
    assert states["ClearNewInput"]["Resource"] == "arn:<AWS::Partition>:states:::aws-sdk:sqs:purgeQueue"


def test_the_state_machine_may_touch_only_its_own_jobs(dev: SynthesizedEnvironment) -> None:
    statements = _statements(dev, "StateMachinePolicy")
    jobs = next(s for s in statements if "sagemaker:CreateTransformJob" in s["Action"])
    assert jobs["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:aws:sagemaker:us-east-1:", {"Ref": "AWS::AccountId"}, f":transform-job/{PREFIX}-*"],
        ]
    }
    assert "iam:PassRole" not in json.dumps(statements)


def test_the_job_reads_only_the_input_prefix_and_writes_only_the_output_prefix(
    dev: SynthesizedEnvironment,
) -> None:
    statements = _statements(dev, "ServedExecutionRoleBatchIoPolicy")
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert by_action['"s3:GetObject"']["Resource"] == {"Fn::Join": ["", [BUCKET_ARN, "/batch/input/*"]]}
    assert by_action['"s3:PutObject"']["Resource"] == {"Fn::Join": ["", [BUCKET_ARN, "/batch/output/*"]]}
    listing = by_action['"s3:ListBucket"']
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}


def test_model_logs_go_to_the_transform_jobs_group_under_the_job_prefix(dev: SynthesizedEnvironment) -> None:
    logs = next(
        s for s in _statements(dev, "ServedExecutionRolePolicy") if "logs:PutLogEvents" in s["Action"]
    )
    assert json.dumps(logs["Resource"][1]).endswith(
        f'log-group:/aws/sagemaker/TransformJobs:log-stream:{PREFIX}-*"]]}}'
    )


def test_a_failed_run_raises_the_environment_alarm(dev: SynthesizedEnvironment) -> None:
    alarm = _only(dev, "AWS::CloudWatch::Alarm")["Properties"]
    assert alarm["MetricName"] == "ExecutionsFailed"
    assert alarm["Namespace"] == "AWS/States"
    assert alarm["AlarmActions"] == [{"Fn::ImportValue": "minilm-embeddings-dev-stateful-alarm-topic-arn"}]


def test_outputs_tell_operators_where_to_put_input_and_what_to_start(dev: SynthesizedEnvironment) -> None:
    outputs = dev.template_json("batch")["Outputs"]
    assert outputs["InputPrefix"]["Value"] == "batch/input/"
    assert outputs["OutputPrefix"]["Value"] == "batch/output/"
    assert outputs["JobNamePrefix"]["Value"] == PREFIX
    assert "StateMachineArn" in outputs


def _dashboard_text(env: SynthesizedEnvironment) -> str:
    body = _only(env, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


def test_dashboard_shows_the_runs_and_the_failure_alarm(dev: SynthesizedEnvironment) -> None:
    text = _dashboard_text(dev)
    assert "ExecutionsFailed" in text
    assert "/aws/sagemaker/TransformJobs" in text
    assert "FailedExecutions" in text
