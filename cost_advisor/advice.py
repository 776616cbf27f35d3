"""The recommendation (the cheapest eligible option), the config block that deploys it, and the
estimate of what an environment's configured block costs (synth's budget guard)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from cost_advisor.model_size import InstanceSpec, ModelSize
from cost_advisor.options import (
    HOURS_PER_MONTH,
    KIND_ORDER,
    NO_PROVISIONED_PRICE,
    AdvisorError,
    Catalog,
    Option,
    Workload,
    async_on,
    batch_on,
    ceil,
    common_reasons,
    default_catalog,
    evaluate_options,
    realtime_on,
    serverless_at,
)
from endpoint_configs import (
    AsyncEndpoint,
    BatchTransform,
    EnvironmentConfig,
    RealtimeEndpoint,
    ServerlessEndpoint,
)
from endpoint_configs.cost import TrafficProfile
from endpoint_configs.instance_catalog import REFRESH_HINT
from endpoint_configs.scaling import ScheduledCapacity

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
SCHEDULE_START_HOUR = 8
"""Active hours start at 08:00 in the generated schedules (adjust the crons to your day)."""


@dataclass(frozen=True)
class Advice:
    """Every option for one workload and model, and the cheapest eligible one."""

    profile: TrafficProfile
    model: ModelSize
    region: str
    options: list[Option]
    environment: str | None = None

    @property
    def eligible(self) -> list[Option]:
        return sorted((o for o in self.options if o.eligible), key=_cost_key)

    @property
    def recommendation(self) -> Option | None:
        eligible = self.eligible
        return eligible[0] if eligible else None

    def config_block(self) -> str | None:
        """YAML of the recommended option's block, for ``endpoint_configs/<env>.yaml``."""
        option = self.recommendation
        if option is None:
            return None
        target = f"endpoint_configs/{self.environment or '<env>'}.yaml"
        header = (
            f"# {option.label}: about ${option.monthly_usd:,.2f}/month at this traffic profile.\n"
            f"# Paste into {target} under 'endpoints:' (replacing its {option.kind} block), and set\n"
            f"# default_endpoint_type: {option.kind} to deploy it by default.\n"
        )
        return header + block_yaml(block_for(option, self.profile, self.model))

    def to_dict(self) -> dict[str, Any]:
        recommended = self.recommendation
        return {
            "environment": self.environment,
            "region": self.region,
            "model": {
                "source": self.model.source,
                "parameters": self.model.parameters,
                "dtype": self.model.dtype,
                "weights_bytes": self.model.weights_bytes,
                "serving_memory_bytes": self.model.serving_memory_bytes,
                "runtime": self.model.runtime,
                "describe": self.model.describe(),
                "llm": None
                if self.model.llm is None
                else {
                    "weights_bytes": self.model.llm.weights_bytes,
                    "kv_cache_bytes": self.model.llm.kv_cache_bytes,
                    "overhead_bytes_per_gpu": self.model.llm.overhead_bytes_per_gpu,
                    "max_total_tokens": self.model.llm.max_total_tokens,
                    "concurrent_sequences": self.model.llm.concurrent_sequences,
                },
            },
            "traffic": self.profile.model_dump(),
            "options": [o.to_dict() for o in sorted(self.options, key=_display_key)],
            "recommendation": None if recommended is None else recommended.to_dict(),
            "config_block": self.config_block(),
        }


def _cost_key(option: Option) -> tuple[float, int, str]:
    return (option.monthly_usd or 0.0, KIND_ORDER.index(option.kind), option.label)


def _display_key(option: Option) -> tuple[int, float, int, str]:
    return (0 if option.eligible else 1, *_cost_key(option))


def advise(
    profile: TrafficProfile,
    model: ModelSize,
    *,
    region: str,
    catalog: Catalog | None = None,
    environment: str | None = None,
) -> Advice:
    options = evaluate_options(profile, model, region=region, catalog=catalog or default_catalog())
    return Advice(profile=profile, model=model, region=region, options=options, environment=environment)


def block_yaml(block: dict[str, Any]) -> str:
    return str(yaml.safe_dump([block], sort_keys=False, default_flow_style=False))


def _cron_days(days: int) -> str:
    return "*" if days == 7 else (WEEKDAYS[0] if days == 1 else f"{WEEKDAYS[0]}-{WEEKDAYS[days - 1]}")


def schedules(profile: TrafficProfile, *, active: int, idle: int, maximum: int) -> list[dict[str, Any]]:
    """Scheduled capacity: ``active`` from the start of the active hours, ``idle`` after them (UTC,
    starting at 08:00 or earlier so that the day's hours fit; edit the crons to your day)."""
    hours = math.ceil(profile.active_hours_per_day)
    days = profile.active_days_per_week
    if active == idle or (hours >= 24 and days == 7):
        return []
    if hours >= 24:
        up = f"0 0 ? * {_cron_days(days).replace('*', 'MON')} *"
        down = f"0 0 ? * {WEEKDAYS[days % 7]} *"
    else:
        start = min(SCHEDULE_START_HOUR, 24 - hours)
        up = f"0 {start} ? * {_cron_days(days)} *"
        down = f"0 {start + hours if start + hours < 24 else 0} ? * {_cron_days(days)} *"
    return [
        {
            "name": "active-hours",
            "cron": up,
            "timezone": "UTC",
            "min_capacity": active,
            "max_capacity": maximum,
        },
        {"name": "off-hours", "cron": down, "timezone": "UTC", "min_capacity": idle, "max_capacity": maximum},
    ]


def _realtime_block(option: Option, profile: TrafficProfile) -> dict[str, Any]:
    assert option.instance_type
    assert option.instance_count
    assert option.capacity_rps
    variant: dict[str, Any] = {
        "name": "AllTraffic",
        "instance_type": option.instance_type,
        "initial_instance_count": 1,
    }
    peak = option.instance_count
    if peak > 1:
        scaling: dict[str, Any] = {
            "min_capacity": 1,
            "max_capacity": peak,
            "max_requests_per_second_per_instance": round(option.capacity_rps, 2) or 0.01,
            "target_utilization": 0.7,
        }
        planned = schedules(profile, active=peak, idle=1, maximum=peak)
        if planned:
            scaling["schedules"] = planned
        variant["autoscaling"] = scaling
    return {"type": option.kind, "variants": [variant]}


def _serverless_block(option: Option, profile: TrafficProfile) -> dict[str, Any]:
    assert option.memory_size_mb
    assert option.max_concurrency
    block: dict[str, Any] = {
        "type": option.kind,
        "memory_size_mb": option.memory_size_mb,
        "max_concurrency": option.max_concurrency,
        "network_isolation": False,
    }
    provisioned = option.provisioned_concurrency
    if provisioned is not None:
        block["provisioned_concurrency"] = provisioned
        planned = schedules(profile, active=provisioned, idle=1, maximum=provisioned)
        if planned:
            block["provisioned_concurrency_scaling"] = {
                "min_capacity": 1,
                "max_capacity": provisioned,
                "schedules": planned,
            }
    return block


def _async_block(option: Option, profile: TrafficProfile) -> dict[str, Any]:
    assert option.instance_type
    assert option.instance_count
    return {
        "type": option.kind,
        "instance_type": option.instance_type,
        "initial_instance_count": 1,
        "max_concurrent_invocations_per_instance": 1,
        "invocation_timeout_seconds": min(3600, max(900, math.ceil(2 * _processing_seconds(option)))),
        "autoscaling": {"min_capacity": 0, "max_capacity": option.instance_count},
    }


def _batch_block(option: Option, profile: TrafficProfile) -> dict[str, Any]:
    assert option.instance_type
    payload_mb = min(100, max(6, math.ceil(profile.payload_kb / 1000)))
    return {
        "type": option.kind,
        "instance_type": option.instance_type,
        "instance_count": option.instance_count or 1,
        "split_type": "Line",
        "batch_strategy": "SingleRecord",
        "max_payload_mb": payload_mb,
        "max_concurrent_transforms": 1,
        "invocation_timeout_seconds": min(3600, max(600, math.ceil(2 * _processing_seconds(option)))),
        "schedule": {"cron": f"0 2 ? * {_cron_days(profile.active_days_per_week)} *", "timezone": "UTC"},
    }


def _processing_seconds(option: Option) -> float:
    return (option.processing.ms / 1000) if option.processing else 1.0


BLOCK_BUILDERS: dict[str, Callable[[Option, TrafficProfile], dict[str, Any]]] = {
    RealtimeEndpoint.kind(): _realtime_block,
    ServerlessEndpoint.kind(): _serverless_block,
    AsyncEndpoint.kind(): _async_block,
    BatchTransform.kind(): _batch_block,
}
"""The ``endpoints:`` entry of each kind the advisor prices, keyed by its config block's ``type``."""


def block_for(option: Option, profile: TrafficProfile, model: ModelSize) -> dict[str, Any]:
    """The ``endpoints:`` entry that deploys ``option`` (the schema of ``endpoint_configs``)."""
    del model
    return BLOCK_BUILDERS[option.kind](option, profile)


@dataclass(frozen=True)
class DeployedEstimate:
    """What an environment's configured block costs a month at its ``traffic:`` profile."""

    environment: str
    kind: str
    option: Option
    cheaper: list[Option] = field(default_factory=list)
    """The cheapest eligible option of each kind that costs less, cheapest first."""
    budget_usd: float | None = None

    @property
    def monthly_usd(self) -> float:
        return self.option.monthly_usd or 0.0

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.monthly_usd > self.budget_usd

    def describe(self) -> str:
        budget = "" if self.budget_usd is None else f" (budget ${self.budget_usd:,.2f})"
        line = (
            f"{self.environment} {self.kind} ({self.option.label}): about ${self.monthly_usd:,.2f}/month "
            f"at the traffic profile{budget}"
        )
        if self.option.reasons:
            line += "; not suited: " + "; ".join(self.option.reasons)
        if self.cheaper:
            shown = ", ".join(f"{o.label} ${o.monthly_usd or 0:,.2f}" for o in self.cheaper[:3])
            line += f"; cheaper: {shown}"
        return line


def _instance(catalog: Catalog, name: str, *, where: str) -> InstanceSpec:
    for instance in catalog.instance_types():
        if instance.name == name:
            return instance
    raise AdvisorError(f"{where} = {name!r}: unknown instance type (not in the instance catalog)")


def _require_price(option: Option, *, where: str) -> Option:
    for reason in option.reasons:
        if reason.startswith("no price"):
            raise AdvisorError(f"{where}: {reason}; {REFRESH_HINT}")
    return option


def _hourly(catalog: Catalog, name: str, region: str, *, where: str) -> float:
    try:
        return float(catalog.hosting_price(name, region).usd_per_hour)
    except (ValueError, KeyError):
        raise AdvisorError(f"{where}: no price for {name} in {region}; {REFRESH_HINT}") from None


def estimate_deployed(
    config: EnvironmentConfig, kind: str, *, model: ModelSize, catalog: Catalog | None = None
) -> DeployedEstimate:
    """The configured ``kind`` block's monthly cost at ``config.traffic`` (``AdvisorError`` without
    a traffic profile, for an unknown instance type, or for a region without a price)."""
    catalog = catalog or default_catalog()
    profile = config.traffic
    if profile is None:
        raise AdvisorError(f"{config.environment}: no traffic: block, so there is nothing to estimate")
    region = config.region
    path = config.workload_path(kind)
    block = config.workload(kind)
    if isinstance(block, RealtimeEndpoint):
        option = _realtime_deployed(block, profile, model, region=region, catalog=catalog, path=path)
    elif isinstance(block, ServerlessEndpoint):
        option = _serverless_deployed(block, profile, model, region=region, catalog=catalog)
    elif isinstance(block, AsyncEndpoint):
        option = _async_deployed(block, profile, model, region=region, catalog=catalog, path=path)
    elif isinstance(block, BatchTransform):
        where = f"{path}.instance_type"
        instance = _instance(catalog, block.instance_type, where=where)
        option = batch_on(
            instance, profile, model, region=region, catalog=catalog, instances=block.instance_count
        )
        option = _require_price(option, where=where)
    else:  # pragma: no cover - a new kind needs an estimate here
        raise AdvisorError(f"{kind}: no cost estimate for this workload kind")
    if not option.eligible and option.monthly_usd is None:
        option = replace(option, monthly_usd=0.0)
    advice = evaluate_options(profile, model, region=region, catalog=catalog)
    cheaper: list[Option] = []
    for candidate in sorted(advice, key=_cost_key):
        below = (candidate.monthly_usd or 0.0) < (option.monthly_usd or 0.0) - 0.005
        if candidate.eligible and below and candidate.kind not in {o.kind for o in cheaper}:
            cheaper.append(candidate)
    budget = config.budget.monthly_limit_usd if config.budget else None
    return DeployedEstimate(config.environment, kind, option, cheaper, budget)


def _realtime_deployed(
    block: RealtimeEndpoint,
    profile: TrafficProfile,
    model: ModelSize,
    *,
    region: str,
    catalog: Catalog,
    path: str,
) -> Option:
    work = Workload(profile)
    total_weight = sum(v.initial_weight for v in block.variants)
    cost = 0.0
    labels, notes, reasons = [], [], list(common_reasons("realtime", profile))
    for index, variant in enumerate(block.variants):
        where = f"{path}.variants[{index}].instance_type"
        instance = _instance(catalog, variant.instance_type, where=where)
        hourly = _hourly(catalog, instance.name, region, where=where)
        share = variant.initial_weight / total_weight
        scaling = variant.autoscaling
        if scaling is None:
            active = idle = variant.initial_instance_count
        else:
            needed = ceil(
                work.design_rps
                * share
                / (scaling.max_requests_per_second_per_instance * scaling.target_utilization)
            )
            active, idle = _scheduled_counts(
                scaling.min_capacity, scaling.max_capacity, scaling.schedules, needed
            )
        cost += hourly * (active * work.active_hours_per_month + idle * work.idle_hours_per_month)
        labels.append(f"{instance.name} x{active}" + (f"/{idle} off-hours" if idle != active else ""))
        notes.append(f"{variant.name}: {active} instances during active hours, {idle} off-hours")
        if not model.fits(instance):
            reasons.append(f"{variant.name}: the model does not fit {instance.name}")
        else:
            check = realtime_on(instance, profile, model, region=region, catalog=catalog, instances=active)
            reasons.extend(r for r in check.reasons if not r.startswith("no price"))
    return Option(
        kind="realtime",
        label="real-time " + ", ".join(labels),
        eligible=not reasons,
        monthly_usd=cost,
        reasons=tuple(reasons),
        notes=tuple(notes),
        instance_type=block.variants[0].instance_type,
        breakdown={"instances": cost},
    )


def _scheduled_counts(
    minimum: int, maximum: int, planned: list[ScheduledCapacity], needed: int
) -> tuple[int, int]:
    """(instances during active hours, off-hours): the fleet for ``needed`` within the bounds; with
    schedules, the highest scheduled floor holds in active hours and the lowest off-hours."""
    floors = [minimum, *(s.min_capacity for s in planned)]
    active = min(max(needed, max(floors)), maximum)
    idle = min(floors) if planned else min(max(needed, minimum), maximum)
    return active, idle


def _serverless_deployed(
    block: ServerlessEndpoint, profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog
) -> Option:
    try:
        prices = catalog.serverless_prices(region)
    except (ValueError, KeyError):
        raise AdvisorError(f"no serverless prices for {region}; {REFRESH_HINT}") from None
    provisioned = block.provisioned_concurrency
    if provisioned is not None and None in (
        prices.provisioned_usd_per_gb_second,
        prices.provisioned_inference_usd_per_gb_second,
    ):
        raise AdvisorError(f"{NO_PROVISIONED_PRICE} {region}; {REFRESH_HINT}")
    if provisioned is None:
        (option,) = serverless_at(block.memory_size_mb, profile, model, prices=prices, only="on-demand")
    else:
        scaling = block.provisioned_concurrency_scaling
        idle = provisioned
        if scaling is not None and scaling.schedules:
            idle = min([scaling.min_capacity, *(s.min_capacity for s in scaling.schedules)])
        (option,) = serverless_at(
            block.memory_size_mb,
            profile,
            model,
            prices=prices,
            provisioned=(provisioned, max(1, idle)),
            only="provisioned",
        )
    if block.memory_size_mb < model.serving_memory_mb:
        reason = (
            f"the model needs about {model.serving_memory_mb} MB; memory_size_mb is {block.memory_size_mb}"
        )
        option = replace(option, eligible=False, reasons=(*option.reasons, reason))
    if option.monthly_usd is None:
        # the cost stands even where the option does not suit the workload
        compute = serverless_at(
            block.memory_size_mb,
            profile.model_copy(update={"latency_target_ms": None}),
            model,
            prices=prices,
            provisioned=None if provisioned is None else (provisioned, provisioned),
            only="on-demand" if provisioned is None else "provisioned",
        )[0]
        option = replace(option, monthly_usd=compute.monthly_usd)
    return option


def _async_deployed(
    block: AsyncEndpoint,
    profile: TrafficProfile,
    model: ModelSize,
    *,
    region: str,
    catalog: Catalog,
    path: str,
) -> Option:
    where = f"{path}.instance_type"
    instance = _instance(catalog, block.instance_type, where=where)
    hourly = _hourly(catalog, instance.name, region, where=where)
    scaling = block.autoscaling
    floor = block.initial_instance_count if scaling is None else scaling.min_capacity
    always_on = floor * HOURS_PER_MONTH * hourly
    option = async_on(instance, profile, model, region=region, catalog=catalog)
    cost = max(always_on, option.monthly_usd or 0.0)
    if floor:
        note = f"{floor} instance{'s' if floor > 1 else ''} always on (no scale-to-zero)"
        option = replace(option, notes=(*option.notes, note))
    return replace(option, monthly_usd=cost, breakdown={"instances": cost})
