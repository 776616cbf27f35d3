"""Asynchronous options the shipped environments do not use: a GPU family with NVMe instance
storage, configured S3 paths and topics, schedules that scale to zero off-hours, and an
environment named freely (``eu-prod``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest

from app import cdk_json_context
from endpoint_configs import parse_config
from stacks.environment import add_environment, locate_artifact

CONFIG = """
project: async-check
environment: eu-prod
account: "123456789012"
region: eu-west-1
tags: {cost-center: test}
model:
  image:
    uri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/embeddings/server:1.4.2
  artifact:
    s3_uri: s3://async-check-models/minilm/model.tar.gz
default_endpoint_type: async
endpoints:
  - type: async
    instance_type: ml.g5.xlarge
    input_path: s3://async-check-requests/queue/in/
    output_path: s3://async-check-results/queue/out/
    failure_path: s3://async-check-results/queue/failed/
    success_topic_arn: arn:aws:sns:eu-west-1:123456789012:async-done
    error_topic_arn: arn:aws:sns:eu-west-1:123456789012:async-failed
    autoscaling:
      min_capacity: 0
      max_capacity: 4
      schedules:
        - name: nights-to-zero
          cron: "0 20 ? * * *"
          timezone: Europe/Dublin
          min_capacity: 0
          max_capacity: 1
        - name: workdays-warm
          cron: "0 7 ? * MON-FRI *"
          timezone: Europe/Dublin
          min_capacity: 1
          max_capacity: 4
"""


KMS_RULE = "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    outdir = tmp_path_factory.mktemp("cdk-async-options")
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    config = parse_config(CONFIG, source="eu-prod.yaml", expected_env="eu-prod")
    artifact = locate_artifact(config.model.artifact, None)
    add_environment(app, config, "async", artifact=artifact)
    app.synth()
    return app


@pytest.fixture(scope="module")
def template(app: cdk.App) -> dict[str, Any]:
    path = Path(app.outdir, "async-check-eu-prod-async.template.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _of_type(template: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == type_name]


def test_nvme_instance_storage_leaves_out_the_storage_key_with_the_reason_acknowledged(
    app: cdk.App, template: dict[str, Any]
) -> None:
    # CreateEndpointConfig rejects KmsKeyId for instance types with local NVMe storage, async too.
    (config,) = _of_type(template, "AWS::SageMaker::EndpointConfig")
    assert "KmsKeyId" not in config["Properties"]
    reasons = [
        reason
        for construct in app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule, reason in entry.data.items()
        if rule.endswith(KMS_RULE)
    ]
    assert len(reasons) == 1
    assert "g5 have NVMe instance storage" in reasons[0]
    assert cdk_nag.HIPAASecurityChecks().validate_scope(app).violations == []


def test_async_results_stay_encrypted_with_the_environment_key(template: dict[str, Any]) -> None:
    (config,) = _of_type(template, "AWS::SageMaker::EndpointConfig")
    output = config["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    assert output["KmsKeyId"] == {"Fn::ImportValue": "async-check-eu-prod-stateful-key-arn"}
    assert output["S3OutputPath"] == "s3://async-check-results/queue/out/"
    assert output["S3FailurePath"] == "s3://async-check-results/queue/failed/"
    assert output["NotificationConfig"]["SuccessTopic"] == "arn:aws:sns:eu-west-1:123456789012:async-done"


def test_role_reads_and_writes_only_the_configured_prefixes(template: dict[str, Any]) -> None:
    statements = [
        s
        for p in _of_type(template, "AWS::IAM::ManagedPolicy")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    reads = next(s for s in statements if s["Action"] == "s3:GetObject" and "queue/in" in json.dumps(s))
    assert reads["Resource"] == "arn:aws:s3:::async-check-requests/queue/in/*"
    writes = next(s for s in statements if s["Action"] == "s3:PutObject")
    assert sorted(writes["Resource"]) == [
        "arn:aws:s3:::async-check-results/queue/failed/*",
        "arn:aws:s3:::async-check-results/queue/out/*",
    ]


def test_schedules_may_scale_to_zero_off_hours(template: dict[str, Any]) -> None:
    (target,) = _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    actions = {a["ScheduledActionName"]: a for a in target["Properties"]["ScheduledActions"]}
    assert actions["nights-to-zero"]["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 1}
    assert actions["nights-to-zero"]["Timezone"] == "Europe/Dublin"
    assert actions["workdays-warm"]["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 4}


def test_outputs_give_the_configured_input_path(template: dict[str, Any]) -> None:
    assert template["Outputs"]["InputPath"]["Value"] == "s3://async-check-requests/queue/in/"
