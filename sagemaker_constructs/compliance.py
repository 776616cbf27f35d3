"""cdk-nag rule packs on every stack, and acknowledgments that always carry a reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aws_cdk as cdk
import cdk_nag
from aws_cdk import aws_iam as iam
from constructs import IConstruct

RULE_PACKS: tuple[type[cdk_nag.NagPack], ...] = (
    cdk_nag.AwsSolutionsChecks,
    cdk_nag.HIPAASecurityChecks,
)
"""AwsSolutions covers general best practice; HIPAA Security adds the SageMaker endpoint rules."""


def add_rule_packs(app: cdk.App) -> None:
    """Run every pack during synth; an unacknowledged finding fails the synth."""
    cdk.Validations.of(app).add_plugins(*(pack(app) for pack in RULE_PACKS))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge ``rule_id`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and below."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledgment of {rule_id} needs a real reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcard_resources(
    policy: IConstruct, statements: Sequence[iam.PolicyStatement], reason: Callable[[str], str]
) -> None:
    """Acknowledge ``AwsSolutions-IAM5`` on ``policy`` for each statement resource ending in ``*``
    (an S3 prefix, a name prefix), with ``reason(resource)``."""
    for statement in statements:
        for resource in statement.resources:
            if resource.endswith("*"):
                rendered = rendered_for_nag(policy, resource)
                acknowledge(policy, f"AwsSolutions-IAM5[Resource::{rendered}]", reason(resource))


def rendered_for_nag(scope: IConstruct, value: str) -> str:
    """``value`` as cdk-nag writes it in finding IDs such as ``AwsSolutions-IAM5[Resource::...]``.

    cdk-nag renders ``Fn::ImportValue`` as the export name, ``Ref`` as ``<Name>`` and
    ``Fn::GetAtt`` as ``<Resource.Attribute>``, and joins ``Fn::Join`` parts.
    """
    return _render(cdk.Stack.of(scope).resolve(value))


def _render(node: object) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Fn::ImportValue":
            return _render(argument)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument)}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
    raise ValueError(f"cannot render {node!r} the way cdk-nag does")
