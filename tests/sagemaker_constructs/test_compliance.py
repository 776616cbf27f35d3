"""Compliance: rule packs that fail the synth, acknowledgments that carry reasons, and finding IDs
rendered as cdk-nag renders them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns

from app import cdk_json_context
from sagemaker_constructs.compliance import RULE_PACKS, acknowledge, add_rule_packs, rendered_for_nag
from tests.sagemaker_constructs.support import acknowledged, bare_stack, nag_findings

REASON = "Objects are written under generated keys of this one prefix only."


@dataclass(frozen=True)
class Tokens:
    stack: cdk.Stack
    topic: sns.CfnTopic
    resources: list[str]


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """Wildcard resources built from an export, a Ref and a GetAtt, in an environment-agnostic stack."""
    stack = bare_stack("RenderCheck", env=None)
    topic = sns.CfnTopic(stack, "Topic")
    resources = [
        cdk.Fn.join("", [cdk.Fn.import_value("models-dev-bucket-arn"), "/features/*"]),
        f"arn:aws:s3:::{topic.ref}/refs/*",
        cdk.Fn.join("", [topic.attr_topic_arn, "/attributes/*"]),
        f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:/aws/sagemaker/Endpoints/ep:*",
    ]
    return Tokens(stack, topic, resources)


def _policy(scope: cdk.Stack, construct_id: str, resources: list[str]) -> iam.ManagedPolicy:
    return iam.ManagedPolicy(
        scope,
        construct_id,
        statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=resources)],
    )


def test_plain_text_is_rendered_as_is(tokens: Tokens) -> None:
    assert rendered_for_nag(tokens.stack, "arn:aws:s3:::models-b/llm/*") == "arn:aws:s3:::models-b/llm/*"


def test_import_value_is_rendered_as_the_export_name(tokens: Tokens) -> None:
    assert rendered_for_nag(tokens.stack, tokens.resources[0]) == "models-dev-bucket-arn/features/*"


def test_ref_is_rendered_in_angle_brackets(tokens: Tokens) -> None:
    assert rendered_for_nag(tokens.stack, tokens.resources[1]) == "arn:aws:s3:::<Topic>/refs/*"


def test_get_att_is_rendered_as_resource_dot_attribute(tokens: Tokens) -> None:
    assert rendered_for_nag(tokens.stack, tokens.resources[2]) == "<Topic.TopicArn>/attributes/*"


def test_pseudo_parameters_are_rendered_as_refs(tokens: Tokens) -> None:
    assert rendered_for_nag(tokens.stack, tokens.resources[3]) == (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints/ep:*"
    )


def test_rendering_matches_the_finding_ids_cdk_nag_reports(tokens: Tokens) -> None:
    policy = _policy(tokens.stack, "Unacknowledged", tokens.resources)
    reported = sorted(rule for rule, _ in nag_findings(policy, cdk_nag.AwsSolutionsChecks))
    assert reported == sorted(
        f"AwsSolutions-IAM5[Resource::{rendered_for_nag(tokens.stack, r)}]" for r in tokens.resources
    )


def test_acknowledging_the_rendered_ids_clears_the_findings(tokens: Tokens) -> None:
    policy = _policy(tokens.stack, "Acknowledged", tokens.resources)
    for resource in tokens.resources:
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{rendered_for_nag(policy, resource)}]", REASON)
    assert nag_findings(policy, cdk_nag.AwsSolutionsChecks) == []


def test_unsupported_intrinsic_is_refused_rather_than_guessed(tokens: Tokens) -> None:
    """GIVEN an Fn::Sub WHEN it is rendered THEN it is refused: cdk-nag's rendering of it is unknown."""
    with pytest.raises(ValueError, match=r"cannot render .*Fn::Sub.* the way cdk-nag does"):
        rendered_for_nag(tokens.stack, cdk.Fn.sub("arn:aws:s3:::${AWS::AccountId}-models/*"))


def test_acknowledgment_is_recorded_with_its_reason(tokens: Tokens) -> None:
    acknowledge(tokens.topic, "HIPAA.Security-SNSEncryptedKMS", REASON)
    assert acknowledged(tokens.topic) == {"HIPAA.Security-SNSEncryptedKMS": REASON}


@pytest.mark.parametrize("reason", ["", "because", "   too short, padded    "])
def test_acknowledgment_without_a_real_reason_is_refused(tokens: Tokens, reason: str) -> None:
    """GIVEN a reason under 20 characters (after stripping) WHEN acknowledging THEN it is refused."""
    with pytest.raises(ValueError, match=r"acknowledgment of AwsSolutions-SNS2 needs a real reason"):
        acknowledge(tokens.topic, "AwsSolutions-SNS2", reason)
    assert "AwsSolutions-SNS2" not in acknowledged(tokens.topic)


def test_rule_packs_are_aws_solutions_and_hipaa_security() -> None:
    assert list(RULE_PACKS) == [cdk_nag.AwsSolutionsChecks, cdk_nag.HIPAASecurityChecks]


def _failed_rules(outdir: Path, build: Any) -> list[str]:
    """Synth a one-stack app with the rule packs, which must fail; the rule IDs that failed it."""
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    add_rule_packs(app)
    build(cdk.Stack(app, "Tiny"))
    with pytest.raises(RuntimeError, match=r"^ValidationFailed: "):
        app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    return sorted(
        violation["ruleName"] for plugin in report["pluginReports"] for violation in plugin["violations"]
    )


def test_unacknowledged_aws_solutions_finding_fails_the_synth(tmp_path: Path) -> None:
    # GIVEN a wildcard grant nobody acknowledged
    findings = _failed_rules(
        tmp_path, lambda stack: _policy(stack, "Policy", ["arn:aws:s3:::models-b/features/*"])
    )
    # THEN the synth fails on it
    assert findings == ["AwsSolutions-IAM5[Resource::arn:aws:s3:::models-b/features/*]"]


def test_unacknowledged_hipaa_finding_fails_the_synth(tmp_path: Path) -> None:
    # GIVEN an inline policy, which only the HIPAA Security pack rejects
    def build(stack: cdk.Stack) -> None:
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        iam.Policy(
            stack,
            "Inline",
            roles=[role],
            statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/m.tar.gz"])],
        )

    # THEN the synth fails on it
    assert _failed_rules(tmp_path, build) == ["HIPAA.Security-IAMNoInlinePolicy"]


def test_acknowledged_finding_lets_the_synth_pass(tmp_path: Path) -> None:
    app = cdk.App(context=cdk_json_context(), outdir=str(tmp_path))
    add_rule_packs(app)
    policy = _policy(cdk.Stack(app, "Tiny"), "Policy", ["arn:aws:s3:::models-b/features/*"])
    acknowledge(policy, "AwsSolutions-IAM5[Resource::arn:aws:s3:::models-b/features/*]", REASON)
    app.synth()
    assert (tmp_path / "Tiny.template.json").exists()
