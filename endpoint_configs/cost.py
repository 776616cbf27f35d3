"""What an environment expects to serve and may spend: ``traffic:`` and ``budget:``.

``traffic`` is the workload the cost advisor prices every inference option against, and what
synth estimates the deployed option's monthly cost from. ``budget`` becomes an AWS Budgets budget
filtered by the environment's cost-allocation tags, with alerts to the alarm topic and e-mails;
synth refuses a deployment whose estimate exceeds it unless ``acknowledge_over_budget`` says why.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from endpoint_configs.common import StrictModel


class TrafficProfile(StrictModel):
    """The expected workload of one environment."""

    requests_per_day: float = Field(gt=0, description="Requests on an active day, > 0.")
    peak_requests_per_second: float = Field(gt=0, description="Busiest second's requests, > 0.")
    active_hours_per_day: float = Field(
        default=24, gt=0, le=24, description="Hours a day with traffic, (0, 24]. Default: 24."
    )
    active_days_per_week: int = Field(
        default=7, ge=1, le=7, description="Days a week with traffic, 1-7. Default: 7."
    )
    payload_kb: float = Field(gt=0, description="Request body size in KB (1000 bytes), > 0.")
    response_kb: float = Field(default=4, gt=0, description="Response body size in KB, > 0. Default: 4.")
    processing_ms: float | None = Field(
        default=None,
        gt=0,
        description="Model time per request on the serving instance, > 0. Default: estimated from "
        "the model's FLOPs (2 x parameters x tokens) and the instance's throughput, and labelled so.",
    )
    tokens_per_request: int = Field(
        default=128,
        ge=1,
        le=1_000_000,
        description="Tokens per request for the FLOPs estimate. Default: 128.",
    )
    latency_target_ms: float | None = Field(
        default=None, gt=0, description="Largest acceptable response time, > 0. Default: none."
    )


class BudgetAlert(StrictModel):
    """One notification: a percentage of the limit, of actual or forecast spend."""

    threshold_percent: float = Field(gt=0, le=1000, description="Percent of the limit, (0, 1000].")
    spend: Literal["ACTUAL", "FORECASTED"] = Field(default="ACTUAL", description="Default: ACTUAL.")


def _default_alerts() -> list[BudgetAlert]:
    return [
        BudgetAlert(threshold_percent=80, spend="ACTUAL"),
        BudgetAlert(threshold_percent=100, spend="FORECASTED"),
    ]


class BudgetConfig(StrictModel):
    """A monthly cost budget for everything tagged with this environment's cost allocation tags."""

    monthly_limit_usd: float = Field(
        gt=0,
        description="Monthly limit in USD, > 0 (AWS Budgets' console makes its zero-spend budget with 0.01).",
    )
    alerts: list[BudgetAlert] = Field(
        default_factory=_default_alerts,
        min_length=1,
        max_length=5,
        description="At most 5 (AWS Budgets). Default: 80 % of actual, 100 % of forecast spend.",
    )
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list,
        max_length=10,
        description="Also told directly (besides the alarm topic's subscribers). Default: none.",
    )
    acknowledge_over_budget: str | None = Field(
        default=None,
        min_length=10,
        description="Why the deployed option may cost more than the limit at the traffic profile; "
        "without it synth refuses. Default: none.",
    )
