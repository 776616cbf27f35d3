"""Helpers for the construct tests: a bare stack in its own app, logical IDs, acknowledgments,
cdk-nag findings."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct

from app import cdk_json_context

ENV = cdk.Environment(account="123456789012", region="eu-west-1")


def bare_stack(stack_id: str = "Check", *, env: cdk.Environment | None = ENV) -> cdk.Stack:
    """A stack with nothing in it, alone in an app with cdk.json's context."""
    app = cdk.App(context=cdk_json_context())
    return cdk.Stack(app, stack_id, env=env)


def logical_id(construct: IConstruct) -> str:
    """The logical ID of ``construct`` (a CloudFormation element, or an L2 with a default child)."""
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    assert isinstance(element, cdk.CfnElement), construct.node.path
    return cdk.Stack.of(construct).get_logical_id(element)


def acknowledged(construct: IConstruct) -> dict[str, str]:
    """The rule IDs acknowledged on ``construct`` itself, with their reasons."""
    rules: dict[str, str] = {}
    for entry in construct.node.metadata:
        if entry.type == "aws:cdk:acknowledged-rules":
            data: dict[str, Any] = entry.data
            for rule, reason in data.items():
                rules[rule.removeprefix("Annotation::")] = str(reason)
    return rules


def nag_findings(scope: IConstruct, pack: type[cdk_nag.NagPack]) -> list[tuple[str, list[str]]]:
    """Unacknowledged findings of ``pack`` under ``scope``: rule ID and construct paths."""
    report = pack().validate_scope(scope)
    return [
        (violation.rule_name, [resource.construct_path or "?" for resource in violation.violating_resources])
        for violation in report.violations
    ]
