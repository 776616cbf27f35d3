"""CostBudget on a bare stack: one tag filter needs no And, the topic without a policy yet still
gets one, and bad props are refused before anything is synthesized."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import assertions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from sagemaker_constructs.budget import MAX_EMAIL_SUBSCRIBERS, BudgetAlert, CostBudget
from tests.sagemaker_constructs.support import bare_stack


def _budget(**overrides: Any) -> tuple[CostBudget, assertions.Template]:
    stack = bare_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    topic = sns.Topic(stack, "Topic", master_key=key)
    props: dict[str, Any] = {
        "budget_name": "team-monthly",
        "monthly_limit_usd": 25.5,
        "cost_allocation_tags": {"team": "search"},
        "alerts": [BudgetAlert(50)],
        "topic": topic,
        "key": key,
    }
    budget = CostBudget(stack, "Budget", **{**props, **overrides})
    return budget, assertions.Template.from_stack(stack)


def test_one_tag_filters_without_an_and_and_the_alert_goes_to_the_topic_only() -> None:
    budget, template = _budget()
    assert budget.budget_name == "team-monthly"
    template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": {
                "BudgetLimit": {"Amount": 25.5, "Unit": "USD"},
                "FilterExpression": {
                    "Tags": {"Key": "user:team", "Values": ["search"], "MatchOptions": ["EQUALS"]}
                },
            },
            "NotificationsWithSubscribers": [
                {
                    "Notification": assertions.Match.object_like(
                        {"NotificationType": "ACTUAL", "Threshold": 50}
                    ),
                    "Subscribers": [{"SubscriptionType": "SNS", "Address": assertions.Match.any_value()}],
                }
            ],
        },
    )
    template.resource_count_is("AWS::SNS::TopicPolicy", 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"monthly_limit_usd": 0}, "monthly_limit_usd must be > 0, got 0"),
        ({"monthly_limit_usd": -5}, "monthly_limit_usd must be > 0, got -5"),
        ({"alerts": []}, "a budget needs at least one alert"),
        ({"cost_allocation_tags": {}}, "at least one cost allocation tag"),
        (
            {"emails": [f"a{i}@example.com" for i in range(MAX_EMAIL_SUBSCRIBERS + 1)]},
            f"at most {MAX_EMAIL_SUBSCRIBERS} e-mail subscribers, got 11",
        ),
    ],
    ids=["zero-limit", "negative-limit", "no-alert", "no-tag", "too-many-emails"],
)
def test_bad_props_are_refused_with_the_value(overrides: dict[str, Any], message: str) -> None:
    # GIVEN a prop AWS Budgets would reject WHEN the construct is created THEN it says which
    with pytest.raises(ValueError, match=message):
        _budget(**overrides)
