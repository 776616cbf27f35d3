"""One CloudWatch dashboard per inference stack, with the widgets that fit its kind of workload.

``WorkloadDashboard`` makes exactly one ``AWS::CloudWatch::Dashboard`` from a list of sections; the
factories ``real_time``, ``serverless``, ``asynchronous`` and ``batch`` pick the sections of each
kind. Every dashboard starts with an alarm status row for the alarms passed in (none: no row).

Sections and what each widget shows (SageMaker metrics at one-minute periods):

- ``InvocationSection`` (every endpoint kind; ``AWS/SageMaker``, EndpointName + VariantName):
  invocations (Sum) per variant; model latency and overhead latency at p50/p90/p99 (microseconds);
  ``Invocation4XXErrors`` and ``Invocation5XXErrors`` (Sum).
- ``InstanceSection`` (real-time and async; ``/aws/sagemaker/Endpoints``): CPU utilization;
  memory and disk utilization; GPU and GPU memory utilization (Average, percent; CPU and GPU can
  exceed 100 on instances with several cores or GPUs); and instances. CloudWatch publishes no
  instance-count metric for an endpoint variant (the SageMaker metric lists have none; Application
  Auto Scaling publishes none either), so that widget shows ``InvocationsPerInstance`` (Sum) and,
  on the right axis, the number of instances that served traffic, derived as Invocations /
  InvocationsPerInstance (SageMaker sends 1/instances per request): it has no data while there is
  no traffic.
- ``ServerlessSection``: cold starts (``ModelSetupTime`` Average and Maximum in microseconds, and
  its SampleCount, the number of cold starts, on the right axis); concurrency
  (``ServerlessConcurrentExecutionsUtilization``, concurrent executions / MaxConcurrency); and,
  when the endpoint has provisioned concurrency, its use
  (``ServerlessProvisionedConcurrencyUtilization``, ``ServerlessProvisionedConcurrencyExecutions``)
  and requests served by it or spilled over to on-demand capacity
  (``ServerlessProvisionedConcurrencyInvocations``,
  ``ServerlessProvisionedConcurrencySpilloverInvocations``). Metric names and statistics as in
  "Alarms and logs for tracking metrics from serverless endpoints"
  (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html), which
  lists Average, Max and Min as the valid statistics of the provisioned-concurrency counts.
- ``AsyncQueueSection`` (``AWS/SageMaker``, EndpointName only): queue (``ApproximateBacklogSize``,
  ``ApproximateBacklogSizePerInstance``, and ``HasBacklogWithoutCapacity`` on the right axis: a
  queue with no instance to serve it); age of the oldest queued request
  (``ApproximateAgeOfOldestRequest`` Maximum, seconds); processed and failed requests
  (``InvocationsProcessed``, ``InvocationFailures``, Sum).
- ``StepFunctionSection`` (batch): from cdk-monitoring-constructs' ``StepFunctionMonitoring``: a
  header linking to the state machine, execution time p50/p90/p99, executions started, succeeded,
  failed, aborted, throttled and timed out (Sum), and the failed-execution rate.
- ``TransformJobSection`` (batch): CPU, memory, disk, GPU and GPU memory utilization of the
  instances of every transform job whose name carries the prefix, through CloudWatch SEARCH
  expressions over ``/aws/sagemaker/TransformJobs`` (dimension ``Host`` is
  ``<job name>/<instance id>``; job names are made at run time, so a fixed metric cannot name them).

Library or hand-written: cdk-monitoring-constructs (10.3.3) has no SageMaker monitoring at all (no
``monitorSageMakerEndpoint``, no SageMaker metric factory), so every SageMaker widget here is a plain
``aws_cloudwatch`` widget; wrapping the same metric definitions in its generic ``monitorCustom``
would add nothing but jsii calls. Its ``StepFunctionMonitoring`` covers every Step Functions metric
the batch dashboard needs, so that section is the library's. The library's ``MonitoringFacade``
serves only as the scope of that monitoring, with a dashboard factory that creates no dashboards:
the one dashboard is this construct's own ``cloudwatch.Dashboard`` (the facade's default factory
would add a dashboard of its own).

Synthesis is deterministic: widgets come in the order of the sections and variants given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as stepfunctions
from constructs import Construct

from sagemaker_constructs.metrics import endpoint_metric

INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
"""Instance metrics of endpoint variants (dimensions EndpointName, VariantName)."""
TRANSFORM_JOB_NAMESPACE = "/aws/sagemaker/TransformJobs"
"""Instance metrics of transform jobs (dimension Host: ``<job name>/<instance id>``)."""
PERCENTILES = ("p50", "p90", "p99")
FULL_WIDTH = 24
GRAPH_HEIGHT = 6
ONE_MINUTE = cdk.Duration.minutes(1)

Rows = list[list[cloudwatch.IWidget]]


class DashboardSection(Protocol):
    """A part of a dashboard: rows of widgets, made in ``scope`` (for widgets that need one)."""

    def rows(self, scope: Construct) -> Rows: ...


def _header(markdown: str) -> cloudwatch.TextWidget:
    return cloudwatch.TextWidget(markdown=markdown, width=FULL_WIDTH, height=1)


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    width: int,
    left_label: str,
    right: Sequence[cloudwatch.IMetric] = (),
    right_label: str = "",
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right),
        width=width,
        height=GRAPH_HEIGHT,
        left_y_axis=cloudwatch.YAxisProps(label=left_label, show_units=False, min=0),
        right_y_axis=cloudwatch.YAxisProps(label=right_label, show_units=False, min=0) if right else None,
    )


def _variants(variant_names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(variant_names)
    if not names:
        raise ValueError("variant_names: at least one variant is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"variant_names {list(names)}: names repeat")
    return names


def _sagemaker(endpoint_name: str, variant: str, name: str, statistic: str, label: str) -> cloudwatch.Metric:
    return endpoint_metric(endpoint_name, name, statistic, variant).with_(label=label)


def _instance(endpoint_name: str, variant: str, name: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=INSTANCE_NAMESPACE,
        metric_name=name,
        dimensions_map={"EndpointName": endpoint_name, "VariantName": variant},
        statistic="Average",
        period=ONE_MINUTE,
        label=label,
    )


@dataclass(frozen=True)
class InvocationSection:
    """Invocations, model and overhead latency (p50/p90/p99), 4xx and 5xx errors of each variant."""

    endpoint_name: str
    variant_names: Sequence[str]

    def rows(self, scope: Construct) -> Rows:
        variants = _variants(self.variant_names)
        endpoint = self.endpoint_name

        def latency(name: str) -> list[cloudwatch.IMetric]:
            return [
                _sagemaker(endpoint, variant, name, stat, f"{variant} {stat}")
                for variant in variants
                for stat in PERCENTILES
            ]

        width = FULL_WIDTH // 4
        return [
            [_header("### Invocations and latency")],
            [
                _graph(
                    "Invocations",
                    [_sagemaker(endpoint, v, "Invocations", "Sum", v) for v in variants],
                    width=width,
                    left_label="requests",
                ),
                _graph("Model latency", latency("ModelLatency"), width=width, left_label="microseconds"),
                _graph(
                    "Overhead latency", latency("OverheadLatency"), width=width, left_label="microseconds"
                ),
                _graph(
                    "4xx and 5xx errors",
                    [
                        _sagemaker(endpoint, v, name, "Sum", f"{v} {kind}")
                        for v in variants
                        for name, kind in (("Invocation4XXErrors", "4xx"), ("Invocation5XXErrors", "5xx"))
                    ],
                    width=width,
                    left_label="requests",
                ),
            ],
        ]


@dataclass(frozen=True)
class InstanceSection:
    """CPU, memory, disk and GPU utilization, invocations per instance and instances serving."""

    endpoint_name: str
    variant_names: Sequence[str]

    def rows(self, scope: Construct) -> Rows:
        variants = _variants(self.variant_names)
        endpoint = self.endpoint_name

        def utilization(*names: tuple[str, str]) -> list[cloudwatch.IMetric]:
            return [_instance(endpoint, v, name, f"{v} {what}") for v in variants for name, what in names]

        served: list[cloudwatch.IMetric] = [
            cloudwatch.MathExpression(
                expression=f"IF(ipi{index} > 0, inv{index} / ipi{index})",
                using_metrics={
                    f"inv{index}": endpoint_metric(endpoint, "Invocations", "Sum", variant),
                    f"ipi{index}": endpoint_metric(endpoint, "InvocationsPerInstance", "Sum", variant),
                },
                label=f"{variant} instances serving",
                period=ONE_MINUTE,
            )
            for index, variant in enumerate(variants)
        ]
        width = FULL_WIDTH // 4
        return [
            [_header("### Instances")],
            [
                _graph(
                    "CPU utilization",
                    utilization(("CPUUtilization", "CPU")),
                    width=width,
                    left_label="percent (100 per core)",
                ),
                _graph(
                    "Memory and disk utilization",
                    utilization(("MemoryUtilization", "memory"), ("DiskUtilization", "disk")),
                    width=width,
                    left_label="percent",
                ),
                _graph(
                    "GPU utilization",
                    utilization(("GPUUtilization", "GPU"), ("GPUMemoryUtilization", "GPU memory")),
                    width=width,
                    left_label="percent (100 per GPU)",
                ),
                _graph(
                    "Invocations per instance",
                    [_sagemaker(endpoint, v, "InvocationsPerInstance", "Sum", v) for v in variants],
                    width=width,
                    left_label="requests per instance",
                    right=served,
                    right_label="instances (with traffic)",
                ),
            ],
        ]


@dataclass(frozen=True)
class ServerlessSection:
    """Cold starts, concurrency use and, with ``provisioned_concurrency``, provisioned concurrency
    use and spillover of each variant."""

    endpoint_name: str
    variant_names: Sequence[str]
    provisioned_concurrency: bool = True

    def rows(self, scope: Construct) -> Rows:
        variants = _variants(self.variant_names)
        endpoint = self.endpoint_name

        def each(name: str, statistic: str, what: str) -> list[cloudwatch.IMetric]:
            return [_sagemaker(endpoint, v, name, statistic, f"{v} {what}") for v in variants]

        width = FULL_WIDTH // (4 if self.provisioned_concurrency else 2)
        graphs: list[cloudwatch.IWidget] = [
            _graph(
                "Cold starts (model setup time)",
                [
                    *each("ModelSetupTime", "Average", "average"),
                    *each("ModelSetupTime", "Maximum", "maximum"),
                ],
                width=width,
                left_label="microseconds",
                right=each("ModelSetupTime", "SampleCount", "cold starts"),
                right_label="cold starts",
            ),
            _graph(
                "Concurrency utilization",
                [
                    *each("ServerlessConcurrentExecutionsUtilization", "Average", "average"),
                    *each("ServerlessConcurrentExecutionsUtilization", "Maximum", "maximum"),
                ],
                width=width,
                left_label="executions / max concurrency",
            ),
        ]
        if self.provisioned_concurrency:
            graphs += [
                _graph(
                    "Provisioned concurrency use",
                    each("ServerlessProvisionedConcurrencyUtilization", "Maximum", "utilization"),
                    width=width,
                    left_label="executions / provisioned",
                    right=each("ServerlessProvisionedConcurrencyExecutions", "Maximum", "executions"),
                    right_label="executions",
                ),
                _graph(
                    "Provisioned concurrency spillover",
                    [
                        *each("ServerlessProvisionedConcurrencyInvocations", "Maximum", "provisioned"),
                        *each("ServerlessProvisionedConcurrencySpilloverInvocations", "Maximum", "spillover"),
                    ],
                    width=width,
                    left_label="requests a minute",
                ),
            ]
        return [[_header("### Serverless capacity")], graphs]


@dataclass(frozen=True)
class AsyncQueueSection:
    """The asynchronous endpoint's queue: backlog, oldest request, processed and failed requests."""

    endpoint_name: str

    def rows(self, scope: Construct) -> Rows:
        def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return endpoint_metric(self.endpoint_name, name, statistic).with_(label=label)

        width = FULL_WIDTH // 3
        return [
            [_header("### Asynchronous queue")],
            [
                _graph(
                    "Backlog",
                    [
                        metric("ApproximateBacklogSize", "Average", "queued requests"),
                        metric("ApproximateBacklogSizePerInstance", "Average", "queued per instance"),
                    ],
                    width=width,
                    left_label="requests",
                    right=[metric("HasBacklogWithoutCapacity", "Maximum", "backlog without capacity")],
                    right_label="1 = queue and no instance",
                ),
                _graph(
                    "Oldest queued request",
                    [metric("ApproximateAgeOfOldestRequest", "Maximum", "age")],
                    width=width,
                    left_label="seconds",
                ),
                _graph(
                    "Processed and failed",
                    [
                        metric("InvocationsProcessed", "Sum", "processed"),
                        metric("InvocationFailures", "Sum", "failed"),
                    ],
                    width=width,
                    left_label="requests",
                ),
            ],
        ]


@dataclass(frozen=True)
class StepFunctionSection:
    """cdk-monitoring-constructs' widgets of a state machine: execution time p50/p90/p99;
    executions started, succeeded, failed, aborted, throttled and timed out; failure rate."""

    state_machine: stepfunctions.IStateMachine
    human_readable_name: str | None = None

    def rows(self, scope: Construct) -> Rows:
        # Imported here: loading the library's jsii assembly costs 0.15-0.2 s a process, paid only
        # by the stacks that use it.
        import cdk_monitoring_constructs as monitoring

        facade = monitoring.MonitoringFacade(
            scope,
            "Monitoring",
            dashboard_factory=monitoring.DefaultDashboardFactory(
                scope,
                "NoDashboards",
                dashboard_name_prefix="unused",
                create_dashboard=False,
                create_summary_dashboard=False,
                create_alarm_dashboard=False,
            ),
        )
        widgets = monitoring.StepFunctionMonitoring(
            facade, state_machine=self.state_machine, human_readable_name=self.human_readable_name
        ).widgets()
        # The first widget is the library's header (full width); the graphs share the next row.
        return [widgets[:1], widgets[1:]]


_SEARCH_TOKEN = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class TransformJobSection:
    """CPU, memory, disk and GPU utilization of the instances of transform jobs named
    ``<job_name_prefix>...``, found by CloudWatch SEARCH."""

    job_name_prefix: str

    def rows(self, scope: Construct) -> Rows:
        if cdk.Token.is_unresolved(self.job_name_prefix):
            raise ValueError("job_name_prefix must be known at synth time, not a token")
        tokens = _SEARCH_TOKEN.findall(self.job_name_prefix)
        if not tokens:
            raise ValueError(f"job_name_prefix {self.job_name_prefix!r}: needs letters or digits")
        # SEARCH matches unquoted terms against the tokens of dimension values (split at
        # punctuation): every token of the prefix must appear in Host.
        host = " ".join(f"Host={token}" for token in tokens)

        def search(name: str, label: str) -> cloudwatch.SearchExpression:
            return cloudwatch.SearchExpression(
                expression=(
                    f"SEARCH('{{{TRANSFORM_JOB_NAMESPACE},Host}} MetricName=\"{name}\" {host}', "
                    "'Average', 60)"
                ),
                label=label,
                period=ONE_MINUTE,
            )

        width = FULL_WIDTH // 2
        return [
            [_header(f"### Transform job instances ({self.job_name_prefix}-*)")],
            [
                _graph(
                    "CPU, memory and disk utilization",
                    [
                        search("CPUUtilization", "CPU"),
                        search("MemoryUtilization", "memory"),
                        search("DiskUtilization", "disk"),
                    ],
                    width=width,
                    left_label="percent (CPU: 100 per core)",
                ),
                _graph(
                    "GPU utilization",
                    [search("GPUUtilization", "GPU"), search("GPUMemoryUtilization", "GPU memory")],
                    width=width,
                    left_label="percent (100 per GPU)",
                ),
            ],
        ]


class WorkloadDashboard(Construct):
    """One CloudWatch dashboard (``AWS::CloudWatch::Dashboard``) of an inference stack.

    Rows from top to bottom: the status of ``alarms`` (when there are any), then each section's
    rows in the order given. Use the factory of the workload's kind (``real_time``,
    ``serverless``, ``asynchronous``, ``batch``) or pass sections yourself.

    Exposes ``dashboard`` (the ``cloudwatch.Dashboard``) and ``dashboard_name``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        sections: Sequence[DashboardSection],
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if not sections:
            raise ValueError("sections: a dashboard needs at least one section")
        rows: Rows = []
        if alarms:
            rows.append(
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms",
                        alarms=list(alarms),
                        width=FULL_WIDTH,
                    )
                ]
            )
        for section in sections:
            rows.extend(section.rows(self))
        self.dashboard_name = dashboard_name
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name, widgets=rows)

    @classmethod
    def real_time(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        endpoint_name: str,
        variant_names: Sequence[str],
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> WorkloadDashboard:
        """Alarms, invocations and latency, instances."""
        return cls(
            scope,
            construct_id,
            dashboard_name=dashboard_name,
            alarms=alarms,
            sections=(
                InvocationSection(endpoint_name, variant_names),
                InstanceSection(endpoint_name, variant_names),
            ),
        )

    @classmethod
    def serverless(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        endpoint_name: str,
        variant_names: Sequence[str],
        alarms: Sequence[cloudwatch.IAlarm] = (),
        provisioned_concurrency: bool = True,
    ) -> WorkloadDashboard:
        """Alarms, invocations and latency, cold starts and concurrency (and provisioned
        concurrency unless ``provisioned_concurrency`` is False)."""
        return cls(
            scope,
            construct_id,
            dashboard_name=dashboard_name,
            alarms=alarms,
            sections=(
                InvocationSection(endpoint_name, variant_names),
                ServerlessSection(endpoint_name, variant_names, provisioned_concurrency),
            ),
        )

    @classmethod
    def asynchronous(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        endpoint_name: str,
        variant_names: Sequence[str],
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> WorkloadDashboard:
        """Alarms, the queue, invocations and latency, instances."""
        return cls(
            scope,
            construct_id,
            dashboard_name=dashboard_name,
            alarms=alarms,
            sections=(
                AsyncQueueSection(endpoint_name),
                InvocationSection(endpoint_name, variant_names),
                InstanceSection(endpoint_name, variant_names),
            ),
        )

    @classmethod
    def batch(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        state_machine: stepfunctions.IStateMachine,
        job_name_prefix: str,
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> WorkloadDashboard:
        """Alarms, the state machine's executions, the transform jobs' instances."""
        return cls(
            scope,
            construct_id,
            dashboard_name=dashboard_name,
            alarms=alarms,
            sections=(StepFunctionSection(state_machine), TransformJobSection(job_name_prefix)),
        )
