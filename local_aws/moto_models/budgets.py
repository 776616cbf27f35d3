"""CloudFormation model for AWS Budgets budgets, which moto 5.2's CloudFormation skips.

``AWS::Budgets::Budget`` creates the budget and its notifications in moto's (global) Budgets
backend, so ``describe_budget`` and ``describe_notifications_for_budget`` return what the template
declared. Ref is the budget name, as in real CloudFormation. Like AWS, a budget without a limit
(``BudgetLimit`` or ``PlannedBudgetLimits``) or with a name already taken is refused.
"""

from __future__ import annotations

from typing import Any

from moto.budgets.models import BudgetsBackend, budgets_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random

from local_aws.moto_models.properties import properties

__all__ = ["BudgetResource"]


def _budgets(account_id: str) -> BudgetsBackend:
    return budgets_backends[account_id]["global"]


def _api_shape(value: Any) -> Any:
    """CloudFormation's spelling of the budget to the API's: amounts are strings there."""
    if isinstance(value, dict):
        return {k: (str(v) if k == "Amount" else _api_shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    return value


class BudgetResource(CloudFormationModel):
    """``AWS::Budgets::Budget``: the budget with its notifications and their subscribers.

    Without ``BudgetName`` the name is generated (``<logical id>-<random>``) and kept across updates.
    """

    def __init__(self, name: str, account_id: str) -> None:
        self.name = name
        self.account_id = account_id

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Budgets::Budget"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BudgetResource:
        """Create the budget under its BudgetName (or a generated one) with its notifications."""
        props = properties(cloudformation_json)
        budget = _api_shape(dict(props["Budget"]))
        budget.setdefault("BudgetName", f"{resource_name}-{mock_random.get_random_hex(8)}")
        notifications = [
            {"Notification": _api_shape(entry["Notification"]), "Subscribers": entry.get("Subscribers", [])}
            for entry in props.get("NotificationsWithSubscribers", [])
        ]
        _budgets(account_id).create_budget(account_id=account_id, budget=budget, notifications=notifications)
        return cls(budget["BudgetName"], account_id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: BudgetResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BudgetResource:
        """Replace the budget: delete the old one, create the new one (same name allowed)."""
        original_resource.delete(account_id, region_name)
        props = cloudformation_json.get("Properties") or {}
        name = props.get("Budget", {}).get("BudgetName") or original_resource.name
        json_with_name = {
            **cloudformation_json,
            "Properties": {**props, "Budget": {**props.get("Budget", {}), "BudgetName": name}},
        }
        return cls.create_from_cloudformation_json(name, json_with_name, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Delete the budget with this name."""
        _budgets(account_id).delete_budget(account_id=account_id, budget_name=resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        """Called by moto's stack deletion and update."""
        self.delete_from_cloudformation_json(self.name, {}, self.account_id, region_name)
