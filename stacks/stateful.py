"""The stateful stack: state that outlives endpoint replacement, exported under fixed names."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from endpoint_configs import StatefulConfig
from endpoint_configs.cost import BudgetConfig
from endpoint_configs.naming import StatefulExports
from sagemaker_constructs.budget import BudgetAlert, CostBudget
from sagemaker_constructs.storage import EncryptedModelStore


class StatefulStack(cdk.Stack):
    """The environment's long-lived resources, exported under ``exports`` for the workload stacks,
    with termination protection as the config says, and the environment's cost budget on
    ``cost_allocation_tags`` when ``budget`` is given (default none). Exposes ``store``,
    ``exports`` and ``budget`` (a ``CostBudget`` or None).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StatefulConfig,
        exports: StatefulExports,
        budget: BudgetConfig | None = None,
        budget_name: str = "",
        cost_allocation_tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self.store = EncryptedModelStore(
            self,
            "Store",
            retain_on_delete=config.retain_on_delete,
            noncurrent_version_expiration_days=config.noncurrent_version_expiration_days,
            access_log_expiration_days=config.access_log_expiration_days,
            alarm_emails=list(config.alarm_emails),
        )
        self.exports = exports
        self.export_value(self.store.key.key_arn, name=self.exports.key_arn)
        self.export_value(self.store.bucket.bucket_arn, name=self.exports.bucket_arn)
        self.export_value(self.store.bucket.bucket_name, name=self.exports.bucket_name)
        self.export_value(self.store.alarm_topic.topic_arn, name=self.exports.topic_arn)
        self.budget: CostBudget | None = None
        if budget is not None:
            self.budget = CostBudget(
                self,
                "Budget",
                budget_name=budget_name,
                monthly_limit_usd=budget.monthly_limit_usd,
                cost_allocation_tags=cost_allocation_tags or {},
                alerts=[BudgetAlert(a.threshold_percent, a.spend) for a in budget.alerts],
                topic=self.store.alarm_topic,
                key=self.store.key,
                emails=list(budget.emails),
            )
