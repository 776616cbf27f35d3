"""What watches a workload: its alarms (``alarms:`` in an endpoint block) and the environment's
idle guard (``idle_guard:``), all sent to the environment's alarm topic.

The error and latency alarms of an endpoint are also the alarms that roll its deployments back
(``deployment.rollback_alarms`` chooses which): one alarm, not a copy per purpose.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from endpoint_configs.common import StrictModel

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
"""CloudWatch percentiles: ``p`` and a number in (0, 100] with at most two decimals, e.g. ``p99``,
``p99.9``. https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html"""

MAX_ALARM_HOURS = 168
"""An alarm with a period of an hour or more evaluates at most 7 days (Period x EvaluationPeriods
<= 604,800 s). https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"""


class LatencyAlarm(StrictModel):
    """Model latency of the worst variant above ``max_ms`` at ``statistic``."""

    statistic: str = Field(
        default="p99", description="A CloudWatch percentile, p0.01-p100 (e.g. p90, p99.9). Default: p99."
    )
    max_ms: float = Field(gt=0, le=3_600_000, description="Milliseconds, (0, 3600000]. Required.")

    @field_validator("statistic")
    @classmethod
    def _percentile(cls, value: str) -> str:
        if not PERCENTILE.match(value) or float(value[1:]) <= 0:
            raise ValueError(
                f"{value!r} is not a percentile CloudWatch accepts; allowed: p followed by a number in "
                "(0, 100] with at most two decimals, e.g. p50, p90, p99, p99.9"
            )
        return value


class WasteAlarm(StrictModel):
    """Instances that are barely used: fewer than ``min_invocations_per_instance_per_hour`` on the
    busiest variant for ``hours`` hours in a row. The description says what to do (downsize,
    schedule, switch option) and names the cost advisor's command."""

    min_invocations_per_instance_per_hour: int = Field(
        ge=1, description="Invocations per instance per hour, >= 1. Required."
    )
    hours: int = Field(
        default=6, ge=1, le=MAX_ALARM_HOURS, description=f"Hours in a row, 1-{MAX_ALARM_HOURS}. Default: 6."
    )


class EndpointAlarms(StrictModel):
    """Alarms on an endpoint, to the environment's alarm topic. The error and latency alarms
    cover every variant and are what ``deployment.rollback_alarms`` rolls back on."""

    max_5xx_errors_per_minute: int | None = Field(
        default=0, ge=0, description="Alarm above this many 5xx a minute; null: off. Default: 0."
    )
    latency: LatencyAlarm | None = Field(
        default_factory=lambda: LatencyAlarm(max_ms=1000),
        description="Default: p99 above 1000 ms; null: off.",
    )
    evaluation_minutes: int = Field(
        default=2, ge=1, le=60, description="Minutes in a row for error and latency alarms, 1-60. Default: 2."
    )
    waste: WasteAlarm | None = Field(default=None, description="Idle capacity alarm. Default: none.")


class IdleGuard(StrictModel):
    """An endpoint with no invocations for ``idle_hours`` hours in a row is reported (``notify``)
    or deleted (``delete``: its endpoint config and model stay, so it can be restored as it was).
    ``delete`` is refused in a production environment unless ``allow_delete_in_production``."""

    idle_hours: int = Field(ge=1, le=MAX_ALARM_HOURS, description=f"Hours, 1-{MAX_ALARM_HOURS}. Required.")
    action: Literal["notify", "delete"] = Field(default="notify", description="Default: notify.")
    allow_delete_in_production: bool = Field(
        default=False, description="Let ``delete`` run in a production environment. Default: false."
    )
