"""The monthly cost of each inference option for a traffic profile and a model, or why it is not
eligible.

A month is 730 hours (AWS's pricing pages use 730). The profile's active hours a day and active
days a week give the share of the month with traffic; "a day" below means an active day.

- **real-time** with scheduled scaling: during active hours, enough instances for the peak
  (``max(peak, mean)`` requests/s over one instance's capacity x ``REALTIME_TARGET_UTILIZATION``);
  off-hours the schedule lowers the fleet to 1 instance, the least a real-time endpoint can run.
- **serverless** at every memory size that holds the model: compute GB-seconds (requests x
  duration x memory, billed by the millisecond) plus data processed in and out; and the same with
  provisioned concurrency sized for the peak during active hours (1 off-hours: its floor).
- **async** with scale-to-zero: instance-hours while there is work (requests x processing time /
  requests in flight), plus ``ASYNC_IDLE_ALLOWANCE_SECONDS`` per active day for starting an instance
  and for the scale-in alarm; when requests arrive more often than that alarm's period, the fleet
  cannot scale in between them and runs through the active hours.
- **batch**: one transform job per active day over the day's requests, its instance-seconds plus
  ``BATCH_JOB_STARTUP_SECONDS``, billed per second.

Instance and serverless prices come from a ``Catalog`` (``endpoint_configs.instance_catalog`` by
default); callers and tests can pass their own.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from cost_advisor.model_size import GIB, InstanceSpec, ModelSize, ProcessingTime
from endpoint_configs import AsyncEndpoint, BatchTransform, RealtimeEndpoint, ServerlessEndpoint, limits
from endpoint_configs.cost import TrafficProfile

HOURS_PER_MONTH = 730.0
"""AWS's pricing pages and calculator: 730 hours a month (8,760 a year / 12)."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

REALTIME_TARGET_UTILIZATION = 0.7
"""Share of an instance's capacity the fleet runs at (``VariantAutoscaling.target_utilization``'s
default): headroom for bursts inside a minute and for the minutes a scale-out takes."""
PROVISIONED_CONCURRENCY_TARGET_UTILIZATION = 0.7
"""``ProvisionedConcurrencyScaling.target_utilization``'s default."""

SERVERLESS_COLD_START_SECONDS = 10.0
"""Time a serverless request waits when no warm container is free: container start and model
load. AWS does not publish a figure ("cold start time depends on model size, how long it takes to
download the model and the start-up time of the container"); 10 s is this package's conservative
assumption. Measure yours with the ``ModelSetupTime`` metric.
https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-cold-starts
https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html"""

ASYNC_SCALE_OUT_SECONDS = 300.0
"""An async endpoint at zero instances queues requests until an instance has started, which takes
minutes ("Requests that are received when there are zero instances are queued for processing
once the endpoint scales up"); 5 minutes is this package's assumption. It is also the least
latency async with scale-to-zero can promise.
https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html"""
ASYNC_SCALE_IN_SECONDS = 900.0
"""Target tracking scales in only after its low alarm has seen 15 consecutive one-minute data
points below the target. https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html"""
ASYNC_IDLE_ALLOWANCE_SECONDS = ASYNC_SCALE_OUT_SECONDS + ASYNC_SCALE_IN_SECONDS
"""Billed time without work per active day: the instance starting, then idling until scale-in."""

BATCH_JOB_STARTUP_SECONDS = 300.0
"""A transform job launches its instances and starts the container before the first record: a
few minutes, billed like the rest of the job (assumption: 5 minutes). It is also the least latency
batch can promise. https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html"""
BATCH_BILLING_SECONDS = 1
"""Instances are billed per second. https://aws.amazon.com/sagemaker/ai/pricing/"""
SERVERLESS_BILLING_MS = 1
"""Serverless compute is billed by the millisecond. https://aws.amazon.com/sagemaker/ai/pricing/"""

ASYNC_MAX_INVOCATION_SECONDS = int(limits.ASYNC_INVOCATION_TIMEOUT_SECONDS.high)
BATCH_MAX_INVOCATION_SECONDS = int(limits.BATCH_INVOCATION_TIMEOUT_SECONDS.high)
BATCH_MAX_RECORD_MB = limits.BATCH_PAYLOAD_BUDGET_MB
"""MaxPayloadInMB is at most 100 MB: one record (request) may not be larger.
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html#sagemaker-CreateTransformJob-request-MaxPayloadInMB"""


@dataclass(frozen=True)
class KindTraits:
    """What rules a workload kind in or out, whatever the instance: its payload and time limits,
    whether a caller waits for the answer (the latency target then applies to processing), and the
    least latency of a kind that starts capacity per request (and why)."""

    label: str
    payload_mb: float
    """Request payload limit in MB (1000 KB, the profile's unit)."""
    per_record: bool
    """The payload limit is per record (a transform job's MaxPayloadInMB), not per request."""
    seconds: float
    caller_waits: bool
    start_up: tuple[float, str] | None = None


KIND_TRAITS = {
    RealtimeEndpoint.kind(): KindTraits(
        "real-time", float(limits.REALTIME_MAX_PAYLOAD_MB), False,
        float(limits.REALTIME_MAX_INVOCATION_SECONDS), caller_waits=True,
    ),
    ServerlessEndpoint.kind(): KindTraits(
        "serverless", float(limits.SERVERLESS_MAX_PAYLOAD_MB), False,
        float(limits.SERVERLESS_MAX_INVOCATION_SECONDS), caller_waits=True,
    ),
    AsyncEndpoint.kind(): KindTraits(
        "async", float(limits.ASYNC_MAX_PAYLOAD_MB), False, float(ASYNC_MAX_INVOCATION_SECONDS),
        caller_waits=False,
        start_up=(ASYNC_SCALE_OUT_SECONDS, "queue-based: scaling out from zero takes minutes"),
    ),
    BatchTransform.kind(): KindTraits(
        "batch", float(BATCH_MAX_RECORD_MB), True, float(BATCH_MAX_INVOCATION_SECONDS), caller_waits=False,
        start_up=(BATCH_JOB_STARTUP_SECONDS, "an offline job: starting one takes minutes"),
    ),
}  # fmt: skip
"""Each kind the advisor prices, keyed by its config block's ``type``, in display order."""
KIND_ORDER = tuple(KIND_TRAITS)

_EPSILON = 1e-9
NO_PROVISIONED_PRICE = "no provisioned concurrency price in the instance catalog for the region"


class PriceSpec(Protocol):
    @property
    def usd_per_hour(self) -> float: ...
    @property
    def source(self) -> str: ...
    @property
    def date(self) -> str: ...


class ServerlessPriceSpec(Protocol):
    @property
    def compute_usd_per_gb_second(self) -> float: ...
    @property
    def data_usd_per_gb(self) -> float: ...
    @property
    def provisioned_usd_per_gb_second(self) -> float | None: ...
    @property
    def provisioned_inference_usd_per_gb_second(self) -> float | None: ...
    @property
    def source(self) -> str: ...
    @property
    def date(self) -> str: ...


class Catalog(Protocol):
    """Instance types and prices (``endpoint_configs.instance_catalog``'s functions). Lookups of an
    unknown type or a region without a price raise ``ValueError`` (``CatalogError``) or ``KeyError``."""

    def instance_types(self) -> Iterable[InstanceSpec]: ...
    def hosting_price(self, name: str, region: str) -> PriceSpec: ...
    def transform_price(self, name: str, region: str) -> PriceSpec: ...
    def serverless_prices(self, region: str) -> ServerlessPriceSpec: ...


class AdvisorError(ValueError):
    """Input the advisor cannot work with; ``str()`` is the whole message for the user."""


def default_catalog() -> Catalog:
    """``endpoint_configs.instance_catalog`` (imported when first needed)."""
    try:
        module: Any = importlib.import_module("endpoint_configs.instance_catalog")
    except ModuleNotFoundError as error:  # pragma: no cover - only before the catalog exists
        raise AdvisorError(f"the instance catalog is not available ({error})") from None
    return cast(Catalog, module)


@dataclass(frozen=True)
class Workload:
    """The profile's volume in the units the formulas use."""

    profile: TrafficProfile

    @property
    def active_days_per_month(self) -> float:
        return DAYS_PER_MONTH * self.profile.active_days_per_week / 7

    @property
    def active_hours_per_month(self) -> float:
        return self.active_days_per_month * self.profile.active_hours_per_day

    @property
    def idle_hours_per_month(self) -> float:
        return HOURS_PER_MONTH - self.active_hours_per_month

    @property
    def requests_per_month(self) -> float:
        return self.profile.requests_per_day * self.active_days_per_month

    @property
    def design_rps(self) -> float:
        """What the fleet must serve during active hours: the peak, or the mean if that is higher."""
        mean = self.profile.requests_per_day / (self.profile.active_hours_per_day * 3600)
        return max(self.profile.peak_requests_per_second, mean)

    @property
    def payload_mb(self) -> float:
        return self.profile.payload_kb / 1000

    @property
    def data_gb_per_request(self) -> float:
        """Request plus response, KB of 1000 bytes, in GB of 1024**3 bytes."""
        return (self.profile.payload_kb + self.profile.response_kb) * 1000 / GIB


@dataclass(frozen=True)
class Option:
    """One way to serve the workload: its monthly cost, or why it is not eligible."""

    kind: str
    label: str
    eligible: bool
    monthly_usd: float | None = None
    reasons: tuple[str, ...] = ()
    """Why it is not eligible."""
    notes: tuple[str, ...] = ()
    """Assumptions the cost rests on."""
    instance_type: str | None = None
    instance_count: int | None = None
    """Instances during active hours (real-time: the peak fleet; async/batch: at most)."""
    memory_size_mb: int | None = None
    provisioned_concurrency: int | None = None
    max_concurrency: int | None = None
    processing: ProcessingTime | None = None
    capacity_rps: float | None = None
    """Requests/s one instance serves at 100 %."""
    breakdown: dict[str, float] = field(default_factory=dict)
    """Monthly USD by part (instances, compute, data, provisioned ...)."""
    price_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "eligible": self.eligible,
            "monthly_usd": None if self.monthly_usd is None else round(self.monthly_usd, 2),
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "memory_size_mb": self.memory_size_mb,
            "provisioned_concurrency": self.provisioned_concurrency,
            "max_concurrency": self.max_concurrency,
            "processing_ms": None if self.processing is None else round(self.processing.ms, 3),
            "processing_estimated": None if self.processing is None else self.processing.estimated,
            "processing_basis": None if self.processing is None else self.processing.basis,
            "capacity_rps": None if self.capacity_rps is None else round(self.capacity_rps, 3),
            "breakdown": {k: round(v, 2) for k, v in self.breakdown.items()},
            "price_source": self.price_source,
        }


def number(value: float) -> str:
    """``1024.001`` as written, ``6`` not ``6.0``, no exponent."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def ceil(value: float) -> int:
    """``math.ceil`` that does not turn 2.0000000001 (float noise) into 3."""
    return math.ceil(value - _EPSILON)


def gpu_sharding(model: ModelSize, instance: InstanceSpec) -> list[str]:
    """A large language model's tensor-parallel degree on ``instance`` and its memory per GPU."""
    tp = model.tensor_parallel(instance)
    if model.llm is None or tp is None:
        return []
    return [f"tensor-parallel degree {tp}: {model.llm.per_gpu_bytes(tp) / GIB:.2f} GiB per GPU"]


def _ineligible(kind: str, label: str, reasons: Iterable[str], **extra: Any) -> Option:
    return Option(kind=kind, label=label, eligible=False, reasons=tuple(reasons), **extra)


def common_reasons(kind: str, profile: TrafficProfile) -> list[str]:
    """Reasons that rule out ``kind`` whatever the instance: payload and latency target."""
    reasons = []
    traits = KIND_TRAITS[kind]
    payload_mb = profile.payload_kb / 1000
    if payload_mb > traits.payload_mb:
        what = "per record (MaxPayloadInMB)" if traits.per_record else "per request"
        reasons.append(f"payload {number(payload_mb)} MB is over the {traits.payload_mb:g} MB limit {what}")
    target = profile.latency_target_ms
    if traits.start_up is not None and target is not None:
        least, how = traits.start_up
        if target < least * 1000:
            reasons.append(f"latency target {target:g} ms is below {least:g} s ({how})")
    return reasons


def time_reasons(kind: str, processing: ProcessingTime, profile: TrafficProfile) -> list[str]:
    reasons = []
    traits = KIND_TRAITS[kind]
    if processing.ms > traits.seconds * 1000:
        reasons.append(f"processing {processing.describe()} is over the {traits.seconds:g} s limit")
    target = profile.latency_target_ms
    if traits.caller_waits and target is not None and processing.ms > target:
        reasons.append(f"processing {processing.describe()} is over the latency target {target:g} ms")
    return reasons


def _usable_instances(catalog: Catalog, model: ModelSize) -> tuple[list[InstanceSpec], list[InstanceSpec]]:
    """(instances that hold the model, CPU or NVIDIA GPU, every instance considered). Inferentia
    and Trainium need the model compiled with the Neuron SDK: not advised here."""
    considered = [i for i in catalog.instance_types() if i.has_gpu or i.gpus == 0]
    return [i for i in considered if model.fits(i)], considered


def _no_fit_reason(model: ModelSize, considered: list[InstanceSpec]) -> str:
    largest_host = max((i.memory_gib for i in considered if not i.has_gpu), default=0.0)
    largest_gpu = max((i.gpu_memory_gib for i in considered if i.has_gpu), default=0.0)
    return (
        f"the model needs about {model.serving_memory_bytes / GIB:.1f} GiB to serve: more than every "
        f"instance type holds (largest CPU memory {largest_host:g} GiB, largest GPU memory "
        f"{largest_gpu:g} GiB)"
    )


def _price(lookup: Any, name: str, region: str) -> PriceSpec | None:
    try:
        return cast(PriceSpec, lookup(name, region))
    except (ValueError, KeyError):
        return None


def _best(kind: str, candidates: list[Option], failures: list[str], common: list[str]) -> Option:
    eligible = [o for o in candidates if o.eligible]
    if eligible and not common:
        return min(eligible, key=lambda o: (o.monthly_usd or 0.0, o.label))
    label = KIND_TRAITS[kind].label
    if eligible:
        cheapest = min(eligible, key=lambda o: (o.monthly_usd or 0.0, o.label))
        return _ineligible(kind, cheapest.label, common, instance_type=cheapest.instance_type)
    return _ineligible(kind, label, [*common, *failures])


def _summarize(failures_by_reason: dict[str, list[str]]) -> list[str]:
    lines = []
    for reason, names in failures_by_reason.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(f"{reason} on every instance type that holds the model ({shown})")
    return lines


def realtime_option(profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog) -> Option:
    """The cheapest real-time fleet with scheduled scaling, or why there is none."""
    work = Workload(profile)
    common = common_reasons("realtime", profile)
    fitting, considered = _usable_instances(catalog, model)
    if not fitting:
        return _ineligible("realtime", "real-time", [*common, _no_fit_reason(model, considered)])
    candidates: list[Option] = []
    failures: dict[str, list[str]] = {}
    for instance in fitting:
        option = realtime_on(instance, profile, model, region=region, catalog=catalog, work=work)
        if option.eligible:
            candidates.append(option)
        else:
            failures.setdefault(_generic(option.reasons[0]), []).append(instance.name)
    return _best("realtime", candidates, _summarize(failures), common)


def _generic(reason: str) -> str:
    """Group per-instance reasons by their wording without the figures."""
    if reason.startswith("processing") and "latency target" in reason:
        return "processing is over the latency target"
    if reason.startswith("processing"):
        return "processing is over the time limit"
    if reason.startswith("no price"):
        return "no price in the region"
    return reason


def realtime_on(
    instance: InstanceSpec,
    profile: TrafficProfile,
    model: ModelSize,
    *,
    region: str,
    catalog: Catalog,
    work: Workload | None = None,
    instances: int | None = None,
) -> Option:
    """Real-time on ``instance``: the fleet for the peak during active hours, 1 off-hours
    (``instances`` fixes the active-hours fleet instead)."""
    work = work or Workload(profile)
    label = f"real-time {instance.name}"
    price = _price(catalog.hosting_price, instance.name, region)
    if price is None:
        return _ineligible("realtime", label, [f"no price for {instance.name} in {region}"])
    processing = model.processing_time(
        given_ms=profile.processing_ms, tokens=profile.tokens_per_request, instance=instance
    )
    reasons = time_reasons("realtime", processing, profile)
    if reasons:
        return _ineligible("realtime", label, reasons, processing=processing)
    capacity = model.copies(instance) * 1000 / processing.ms
    peak = instances or max(1, ceil(work.design_rps / (capacity * REALTIME_TARGET_UTILIZATION)))
    if instance.burstable and peak > 1:
        return _ineligible(
            "realtime",
            label,
            [f"needs {peak} instances, and burstable {instance.name} cannot autoscale"],
            processing=processing,
        )
    instance_hours = peak * work.active_hours_per_month + 1 * work.idle_hours_per_month
    cost = instance_hours * price.usd_per_hour
    notes = [
        f"{peak} instance{'s' if peak > 1 else ''} during active hours "
        f"({work.design_rps:g} requests/s at {REALTIME_TARGET_UTILIZATION:.0%} of "
        f"{capacity:.3g} requests/s each)",
    ]
    if work.idle_hours_per_month > _EPSILON:
        notes.append("1 instance off-hours (scheduled scaling; real-time endpoints cannot scale to zero)")
    notes.extend(gpu_sharding(model, instance))
    return Option(
        kind="realtime",
        label=label,
        eligible=True,
        monthly_usd=cost,
        notes=tuple(notes),
        instance_type=instance.name,
        instance_count=peak,
        processing=processing,
        capacity_rps=capacity,
        breakdown={"instances": cost},
        price_source=f"{price.source} ({price.date})",
    )


def serverless_options(
    profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog
) -> list[Option]:
    """Serverless at every memory size that holds the model, each without and with provisioned
    concurrency; one ineligible option when no size can serve it."""
    common = common_reasons("serverless", profile)
    sizes = [m for m in limits.SERVERLESS_MEMORY_SIZES_MB if m >= model.serving_memory_mb]
    if not sizes:
        largest = max(limits.SERVERLESS_MEMORY_SIZES_MB)
        return [
            _ineligible(
                "serverless",
                "serverless",
                [
                    *common,
                    f"the model needs about {model.serving_memory_mb} MB to serve; serverless offers at "
                    f"most {largest} MB and no GPU",
                ],
            )
        ]
    try:
        prices = catalog.serverless_prices(region)
    except (ValueError, KeyError):
        return [_ineligible("serverless", "serverless", [*common, f"no serverless prices for {region}"])]
    options = []
    for memory in sizes:
        options.extend(serverless_at(memory, profile, model, prices=prices, common=common))
    if None in (prices.provisioned_usd_per_gb_second, prices.provisioned_inference_usd_per_gb_second):
        # one row for what cannot be priced at any size, not one per size
        options = [o for o in options if o.provisioned_concurrency is None]
        options.append(_ineligible("serverless", "serverless, provisioned", [NO_PROVISIONED_PRICE]))
    return options


def serverless_at(
    memory_mb: int,
    profile: TrafficProfile,
    model: ModelSize,
    *,
    prices: ServerlessPriceSpec,
    common: list[str] | None = None,
    provisioned: tuple[int, int] | None = None,
    only: str | None = None,
) -> list[Option]:
    """On-demand and provisioned serverless at ``memory_mb`` (``only``: "on-demand" or
    "provisioned"; ``provisioned`` fixes the concurrency during active hours and off-hours)."""
    work = Workload(profile)
    common = common_reasons("serverless", profile) if common is None else common
    processing = model.serverless_processing_time(
        given_ms=profile.processing_ms, tokens=profile.tokens_per_request, memory_mb=memory_mb
    )
    seconds = math.ceil(processing.ms / SERVERLESS_BILLING_MS - _EPSILON) * SERVERLESS_BILLING_MS / 1000
    gb = memory_mb / 1024
    concurrent = work.design_rps * seconds
    limit = int(limits.SERVERLESS_MAX_CONCURRENCY.high)
    reasons = [*common, *time_reasons("serverless", processing, profile)]
    if ceil(concurrent) > limit:
        reasons.append(f"needs {ceil(concurrent)} concurrent invocations at the peak; at most {limit}")
    max_concurrency = min(limit, max(1, ceil(concurrent / PROVISIONED_CONCURRENCY_TARGET_UTILIZATION)))
    data = work.requests_per_month * work.data_gb_per_request * prices.data_usd_per_gb
    source = f"{prices.source} ({prices.date})"
    options = []
    if only in (None, "on-demand"):
        label = f"serverless {memory_mb} MB"
        cold = [*reasons]
        target = profile.latency_target_ms
        if target is not None and processing.ms + SERVERLESS_COLD_START_SECONDS * 1000 > target:
            cold.append(
                f"cold starts (about {SERVERLESS_COLD_START_SECONDS:g} s after idle) exceed the latency "
                f"target {target:g} ms: provision concurrency"
            )
        compute = work.requests_per_month * seconds * gb * prices.compute_usd_per_gb_second
        options.append(
            Option(
                kind="serverless",
                label=label,
                eligible=not cold,
                monthly_usd=None if cold else compute + data,
                reasons=tuple(cold),
                notes=("cold starts after idle",),
                memory_size_mb=memory_mb,
                max_concurrency=max_concurrency,
                processing=processing,
                breakdown={"compute": compute, "data": data},
                price_source=source,
            )
        )
    if only in (None, "provisioned"):
        count, idle = provisioned or (
            min(limit, max(1, ceil(concurrent / PROVISIONED_CONCURRENCY_TARGET_UTILIZATION))),
            1,
        )
        label = f"serverless {memory_mb} MB, {count} provisioned"
        concurrency_hours = count * work.active_hours_per_month + idle * work.idle_hours_per_month
        held_rate = prices.provisioned_usd_per_gb_second
        inference_rate = prices.provisioned_inference_usd_per_gb_second
        priced = held_rate is not None and inference_rate is not None
        held = concurrency_hours * 3600 * gb * (held_rate or 0.0)
        inference = work.requests_per_month * seconds * gb * (inference_rate or 0.0)
        provisioned_reasons = [*reasons] if priced else [*reasons, NO_PROVISIONED_PRICE]
        notes = [
            f"{count} provisioned during active hours, {idle} off-hours (scheduled; its floor is 1)",
            "requests beyond the provisioned concurrency would be billed on demand: none assumed",
        ]
        options.append(
            Option(
                kind="serverless",
                label=label,
                eligible=not provisioned_reasons,
                monthly_usd=None if provisioned_reasons else held + inference + data,
                reasons=tuple(provisioned_reasons),
                notes=tuple(notes),
                memory_size_mb=memory_mb,
                provisioned_concurrency=count,
                max_concurrency=max(max_concurrency, count),
                processing=processing,
                breakdown={"provisioned": held, "inference": inference, "data": data},
                price_source=source,
            )
        )
    return options


def async_option(profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog) -> Option:
    """The cheapest async endpoint with scale-to-zero, or why there is none."""
    return _cheapest_instance_option("async", profile, model, region=region, catalog=catalog)


def batch_option(profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog) -> Option:
    """The cheapest daily batch transform job, or why there is none."""
    return _cheapest_instance_option("batch", profile, model, region=region, catalog=catalog)


def _cheapest_instance_option(
    kind: str, profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog
) -> Option:
    common = common_reasons(kind, profile)
    fitting, considered = _usable_instances(catalog, model)
    if not fitting:
        return _ineligible(kind, kind, [*common, _no_fit_reason(model, considered)])
    evaluate = async_on if kind == "async" else batch_on
    candidates: list[Option] = []
    failures: dict[str, list[str]] = {}
    for instance in fitting:
        option = evaluate(instance, profile, model, region=region, catalog=catalog)
        if option.eligible:
            candidates.append(option)
        else:
            failures.setdefault(_generic(option.reasons[0]), []).append(instance.name)
    return _best(kind, candidates, _summarize(failures), common)


def async_on(
    instance: InstanceSpec, profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog
) -> Option:
    """Async on ``instance`` with scale-to-zero (see the module docstring)."""
    work = Workload(profile)
    label = f"async {instance.name}"
    if instance.burstable:
        return _ineligible("async", label, [f"burstable {instance.name} cannot autoscale (to zero)"])
    price = _price(catalog.hosting_price, instance.name, region)
    if price is None:
        return _ineligible("async", label, [f"no price for {instance.name} in {region}"])
    processing = model.processing_time(
        given_ms=profile.processing_ms, tokens=profile.tokens_per_request, instance=instance
    )
    reasons = time_reasons("async", processing, profile)
    if reasons:
        return _ineligible("async", label, reasons, processing=processing)
    copies = model.copies(instance)
    capacity = copies * 1000 / processing.ms
    work_hours = profile.requests_per_day / capacity / 3600
    gap_seconds = profile.active_hours_per_day * 3600 / profile.requests_per_day
    allowance_hours = ASYNC_IDLE_ALLOWANCE_SECONDS / 3600
    if gap_seconds < ASYNC_SCALE_IN_SECONDS:
        hours = min(24.0, max(profile.active_hours_per_day, work_hours) + allowance_hours)
        spread = (
            f"requests arrive every {gap_seconds:.3g} s on average: too often to scale in between them, "
            "so an instance runs through the active hours"
        )
    else:
        cycles = profile.requests_per_day
        hours = min(work_hours + cycles * allowance_hours, profile.active_hours_per_day + allowance_hours)
        spread = f"requests {gap_seconds:.3g} s apart: each starts an instance and waits for scale-in"
    count = max(1, ceil(work_hours / profile.active_hours_per_day))
    cost = hours * work.active_days_per_month * price.usd_per_hour
    notes = (
        spread,
        f"{ASYNC_IDLE_ALLOWANCE_SECONDS / 60:g} min a day to start an instance and wait for scale-in",
        "queue-based: not for callers that wait for the answer",
        *gpu_sharding(model, instance),
    )
    return Option(
        kind="async",
        label=label,
        eligible=True,
        monthly_usd=cost,
        notes=notes,
        instance_type=instance.name,
        instance_count=count,
        processing=processing,
        capacity_rps=capacity,
        breakdown={"instances": cost},
        price_source=f"{price.source} ({price.date})",
    )


def batch_on(
    instance: InstanceSpec,
    profile: TrafficProfile,
    model: ModelSize,
    *,
    region: str,
    catalog: Catalog,
    instances: int = 1,
) -> Option:
    """One transform job per active day on ``instances`` x ``instance`` (each starts, then they
    share the records)."""
    work = Workload(profile)
    label = f"batch {instance.name}"
    price = _price(catalog.transform_price, instance.name, region)
    if price is None:
        return _ineligible("batch", label, [f"no price for {instance.name} in {region}"])
    processing = model.processing_time(
        given_ms=profile.processing_ms, tokens=profile.tokens_per_request, instance=instance
    )
    reasons = time_reasons("batch", processing, profile)
    if reasons:
        return _ineligible("batch", label, reasons, processing=processing)
    capacity = model.copies(instance) * 1000 / processing.ms
    seconds = profile.requests_per_day / capacity / instances + BATCH_JOB_STARTUP_SECONDS
    billed = math.ceil(seconds / BATCH_BILLING_SECONDS - _EPSILON) * BATCH_BILLING_SECONDS * instances
    cost = billed / 3600 * work.active_days_per_month * price.usd_per_hour
    notes = (
        f"one job a day: {billed / 3600:.3g} instance-hours including "
        f"{BATCH_JOB_STARTUP_SECONDS / 60:g} min to start, billed per second",
        "offline: results arrive when the job ends",
        *gpu_sharding(model, instance),
    )
    return Option(
        kind="batch",
        label=label,
        eligible=True,
        monthly_usd=cost,
        notes=notes,
        instance_type=instance.name,
        instance_count=instances,
        processing=processing,
        capacity_rps=capacity,
        breakdown={"instances": cost},
        price_source=f"{price.source} ({price.date})",
    )


def evaluate_options(
    profile: TrafficProfile, model: ModelSize, *, region: str, catalog: Catalog | None = None
) -> list[Option]:
    """Every option, in the order real-time, serverless sizes, async, batch."""
    catalog = catalog or default_catalog()
    check_workload(profile)
    check_region(catalog, region)
    return [
        realtime_option(profile, model, region=region, catalog=catalog),
        *serverless_options(profile, model, region=region, catalog=catalog),
        async_option(profile, model, region=region, catalog=catalog),
        batch_option(profile, model, region=region, catalog=catalog),
    ]


def check_region(catalog: Catalog, region: str) -> None:
    """A region the catalog has no price for at all is a typo or a region SageMaker lacks."""
    try:
        catalog.serverless_prices(region)
        return
    except (ValueError, KeyError):
        pass
    for instance in catalog.instance_types():
        if _price(catalog.hosting_price, instance.name, region) is not None:
            return
    raise AdvisorError(
        f"region {region!r}: the instance catalog has no SageMaker price there; check the name, or run "
        f"'python -m cost_advisor refresh-prices --region {region}'"
    )


def check_workload(profile: TrafficProfile) -> None:
    """Bad input no option could serve: a payload over every limit."""
    largest = max(t.payload_mb for t in KIND_TRAITS.values())
    if profile.payload_kb / 1000 > largest:
        each = ", ".join(
            f"{t.label} {t.payload_mb:g} MB{' per record' if t.per_record else ''}"
            for t in KIND_TRAITS.values()
        )
        raise AdvisorError(
            f"payload_kb {number(profile.payload_kb)}: {number(profile.payload_kb / 1000)} MB is over "
            f"every option's limit ({each}); split the input or pass a reference to it in S3"
        )
