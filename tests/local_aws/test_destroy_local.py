"""``python -m local_aws destroy``: every deployed stack of an environment goes, workload stacks
first and the stateful stack last, against moto's server with our fixes (so CloudFormation's
refusals apply: exports in use, termination protection).

The stacks are stand-ins named and wired as the real ones (the stateful stack exports the names in
``endpoint_configs.naming``; each workload stack imports one), so no cdk CLI runs here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from endpoint_configs import EnvironmentConfig, load_environment_config
from local_aws import __main__ as cli
from local_aws import deploy
from local_aws.state import ServerState
from tests.local_aws.conftest import local_client

DEV = load_environment_config("dev")
PROD = load_environment_config("prod")


def _stateful(cloudformation: Any, config: EnvironmentConfig) -> None:
    exports = config.stateful_exports
    names = (exports.key_arn, exports.bucket_arn, exports.bucket_name, exports.topic_arn)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            f"Out{i}": {"Value": {"Ref": "Topic"}, "Export": {"Name": name}} for i, name in enumerate(names)
        },
    }
    cloudformation.create_stack(
        StackName=config.stack_name("stateful"),
        TemplateBody=json.dumps(template),
        EnableTerminationProtection=config.stateful.termination_protection,
    )


def _workload(cloudformation: Any, config: EnvironmentConfig, kind: str) -> None:
    imported = {"Fn::ImportValue": config.stateful_exports.bucket_name}
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "b", "Value": imported}]}}
        }
    }
    cloudformation.create_stack(StackName=config.stack_name(kind), TemplateBody=json.dumps(template))


def _live(cloudformation: Any) -> list[str]:
    return sorted(stack["StackName"] for stack in cloudformation.describe_stacks()["Stacks"])


@pytest.fixture
def running(local_aws: ServerState, monkeypatch: pytest.MonkeyPatch) -> ServerState:
    """GIVEN the local AWS running (the test's moto server), empty."""
    monkeypatch.setattr(deploy, "require_running", lambda: local_aws)
    return local_aws


def test_destroy_deletes_every_workload_stack_then_the_stateful_one(
    running: ServerState, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dev deployed with all three endpoint types
    cloudformation = local_client("cloudformation", running)
    _stateful(cloudformation, DEV)
    for kind in ("realtime", "serverless", "async"):
        _workload(cloudformation, DEV, kind)
    # WHEN dev is destroyed (no endpoint type given)
    assert cli.main(["destroy", "--env", "dev"]) == 0
    # THEN nothing of dev is left, and the stateful stack went last
    assert _live(cloudformation) == []
    destroyed = [
        line.split(":")[0] for line in capsys.readouterr().out.splitlines() if line.endswith(": destroyed")
    ]
    assert destroyed[-1] == "minilm-embeddings-dev-stateful"
    assert sorted(destroyed[:-1]) == [
        f"minilm-embeddings-dev-{kind}" for kind in ("async", "realtime", "serverless")
    ]


def test_destroy_of_a_termination_protected_stack_fails_in_one_line_saying_how_to_turn_it_off(
    running: ServerState, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod deployed, whose stateful stack is termination-protected (prod.yaml's default)
    assert PROD.stateful.termination_protection is True
    cloudformation = local_client("cloudformation", running)
    _stateful(cloudformation, PROD)
    _workload(cloudformation, PROD, "realtime")
    # WHEN prod is destroyed
    status = cli.main(["destroy", "--env", "prod"])
    # THEN one line naming the stack and the setting that turns protection off; nothing is deleted
    assert status == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(
        "error: minilm-embeddings-prod-stateful is termination-protected, so nothing was destroyed"
    )
    assert "stateful.termination_protection: false in endpoint_configs/prod.yaml" in error
    assert _live(cloudformation) == ["minilm-embeddings-prod-realtime", "minilm-embeddings-prod-stateful"]


def test_destroy_reports_a_refusal_of_the_local_aws_in_one_line(
    running: ServerState, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dev deployed, and a stack this destroy does not know importing the stateful export
    cloudformation = local_client("cloudformation", running)
    _stateful(cloudformation, DEV)
    _workload(cloudformation, DEV, "realtime")
    imported = {"Fn::ImportValue": DEV.stateful_exports.bucket_name}
    cloudformation.create_stack(
        StackName="someone-elses",
        TemplateBody=json.dumps(
            {
                "Resources": {
                    "Q": {
                        "Type": "AWS::SQS::Queue",
                        "Properties": {"Tags": [{"Key": "b", "Value": imported}]},
                    }
                }
            }
        ),
    )
    # WHEN dev is destroyed
    status = cli.main(["destroy", "--env", "dev"])
    # THEN the workload stack goes, and the stateful stack's refusal is one line
    assert status == 1
    assert capsys.readouterr().err == (
        "error: minilm-embeddings-dev-stateful was not deleted: Delete canceled. Cannot delete export "
        f"{DEV.stateful_exports.bucket_name} as it is in use by someone-elses.\n"
    )
    assert _live(cloudformation) == ["minilm-embeddings-dev-stateful", "someone-elses"]


def test_destroy_with_nothing_deployed_says_so(
    running: ServerState, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["destroy", "--env", "dev"]) == 0

    assert "nothing to destroy: no stack of dev is deployed on the local AWS" in capsys.readouterr().out


def test_an_unknown_aws_profile_does_not_stop_a_local_destroy(
    running: ServerState, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dev deployed, and a shell whose AWS_PROFILE names no profile (and has no credentials)
    _stateful(local_client("cloudformation", running), DEV)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    # WHEN dev is destroyed on the local AWS
    status = cli.main(["destroy", "--env", "dev"])
    # THEN the local AWS's dummy keys are used and the profile is never read
    assert (status, capsys.readouterr().err) == (0, "")
