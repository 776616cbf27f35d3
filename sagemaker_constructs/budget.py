"""A monthly cost budget on a set of cost-allocation tags, alerting an encrypted SNS topic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

MAX_EMAIL_SUBSCRIBERS = 10
"""AWS Budgets: at most 10 e-mail subscribers and one SNS topic per notification.
https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-controls.html"""


@dataclass(frozen=True)
class BudgetAlert:
    """Notify when ``spend`` (actual or forecast) passes ``threshold_percent`` of the limit."""

    threshold_percent: float
    spend: Literal["ACTUAL", "FORECASTED"] = "ACTUAL"


class CostBudget(Construct):
    """An ``AWS::Budgets::Budget`` of ``monthly_limit_usd`` over the costs tagged with every pair
    in ``cost_allocation_tags`` (activate them as cost allocation tags in the Billing console),
    with one notification per alert to ``topic`` and the ``emails`` (default none, at most 10).

    The topic is KMS-encrypted: the topic policy lets the AWS Budgets service publish, and the
    key policy lets it use ``key``, both only for this account's budgets.
    https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html

    Exposes ``budget`` (the CfnBudget) and ``budget_name``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        budget_name: str,
        monthly_limit_usd: float,
        cost_allocation_tags: Mapping[str, str],
        alerts: Sequence[BudgetAlert],
        topic: sns.ITopic,
        key: kms.IKey,
        emails: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if monthly_limit_usd <= 0:
            raise ValueError(f"monthly_limit_usd must be > 0, got {monthly_limit_usd}")
        if not alerts:
            raise ValueError("a budget needs at least one alert")
        if len(emails) > MAX_EMAIL_SUBSCRIBERS:
            raise ValueError(f"at most {MAX_EMAIL_SUBSCRIBERS} e-mail subscribers, got {len(emails)}")
        if not cost_allocation_tags:
            raise ValueError("a budget needs at least one cost allocation tag to filter on")
        stack = cdk.Stack.of(self)
        self.budget_name = budget_name
        budgets_arn = f"arn:{stack.partition}:budgets::{stack.account}:*"
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSBudgetsPublish",
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": budgets_arn},
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSBudgetsUseKeyForTopic",
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": budgets_arn},
                },
            )
        )
        subscribers = [budgets.CfnBudget.SubscriberProperty(address=topic.topic_arn, subscription_type="SNS")]
        subscribers += [
            budgets.CfnBudget.SubscriberProperty(address=email, subscription_type="EMAIL") for email in emails
        ]
        tag_filters = [
            budgets.CfnBudget.ExpressionProperty(
                tags=budgets.CfnBudget.TagValuesProperty(
                    key=f"user:{name}", values=[value], match_options=["EQUALS"]
                )
            )
            for name, value in sorted(cost_allocation_tags.items())
        ]
        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=budget_name,
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=monthly_limit_usd, unit="USD"),
                filter_expression=(
                    tag_filters[0]
                    if len(tag_filters) == 1
                    else budgets.CfnBudget.ExpressionProperty(and_=tag_filters)
                ),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        comparison_operator="GREATER_THAN",
                        notification_type=alert.spend,
                        threshold=alert.threshold_percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=subscribers,
                )
                for alert in alerts
            ],
        )
        # The budget must not exist before the topic accepts its messages.
        policy = topic.node.try_find_child("Policy")
        if policy is not None:
            self.budget.node.add_dependency(policy)
