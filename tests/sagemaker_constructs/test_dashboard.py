"""WorkloadDashboard: one CloudWatch dashboard per stack, with the widgets of its kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as stepfunctions
from aws_cdk.assertions import Template

from sagemaker_constructs.compliance import RULE_PACKS
from sagemaker_constructs.dashboard import ServerlessSection, WorkloadDashboard
from tests.sagemaker_constructs.support import bare_stack, nag_findings

ENDPOINT = "llm-endpoint"
VARIANTS = ("blue", "green")
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:llm-batch"
JOB_PREFIX = "llm-batch-dev"
KINDS = ("real_time", "serverless", "asynchronous", "batch")
INSTANCE_METRICS = {
    "CPUUtilization",
    "MemoryUtilization",
    "DiskUtilization",
    "GPUUtilization",
    "GPUMemoryUtilization",
}
INVOCATION_METRICS = {
    "Invocations",
    "ModelLatency",
    "OverheadLatency",
    "Invocation4XXErrors",
    "Invocation5XXErrors",
}
SERVERLESS_METRICS = {
    "ModelSetupTime",
    "ServerlessConcurrentExecutionsUtilization",
    "ServerlessProvisionedConcurrencyUtilization",
    "ServerlessProvisionedConcurrencyExecutions",
    "ServerlessProvisionedConcurrencyInvocations",
    "ServerlessProvisionedConcurrencySpilloverInvocations",
}
QUEUE_METRICS = {
    "ApproximateBacklogSize",
    "ApproximateAgeOfOldestRequest",
    "HasBacklogWithoutCapacity",
    "InvocationsProcessed",
    "InvocationFailures",
}
STEP_FUNCTION_METRICS = {
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionTime",
}


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: dict[str, str]
    stat: str


@dataclass(frozen=True)
class Synthesized:
    stack: cdk.Stack
    construct: WorkloadDashboard
    template: Template
    body: dict[str, Any]

    @property
    def widgets(self) -> list[dict[str, Any]]:
        widgets: list[dict[str, Any]] = self.body["widgets"]
        return widgets

    def metrics(self) -> Iterator[Metric]:
        """Every metric line of every graph, math expressions' inputs left out."""
        for widget in self.widgets:
            for line in widget.get("properties", {}).get("metrics", []):
                if isinstance(line[0], str):
                    *fields, options = line
                    namespace, name, *pairs = fields
                    dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
                    yield Metric(
                        namespace, name, dimensions, options.get("stat", "Average")
                    )  # CloudWatch default

    def names(self) -> set[str]:
        return {metric.name for metric in self.metrics()}

    def expressions(self) -> list[str]:
        return [
            line[0]["expression"]
            for widget in self.widgets
            for line in widget.get("properties", {}).get("metrics", [])
            if isinstance(line[0], dict) and "expression" in line[0]
        ]


def rendered_body(template: Template) -> dict[str, Any]:
    """The one dashboard's body as JSON, tokens (``Ref``, ``Fn::GetAtt``) replaced by ``TOKEN``."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        separator, parts = body["Fn::Join"]
        body = separator.join(part if isinstance(part, str) else "TOKEN" for part in parts)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def build(kind: str, stack: cdk.Stack, alarms: list[cloudwatch.IAlarm]) -> WorkloadDashboard:
    name = f"llm-{kind.replace('_', '-')}"
    if kind == "batch":
        state_machine = stepfunctions.StateMachine.from_state_machine_arn(stack, "Jobs", STATE_MACHINE_ARN)
        return WorkloadDashboard.batch(
            stack,
            "Dashboard",
            dashboard_name=name,
            state_machine=state_machine,
            job_name_prefix=JOB_PREFIX,
            alarms=alarms,
        )
    factory = getattr(WorkloadDashboard, kind)
    dashboard: WorkloadDashboard = factory(
        stack, "Dashboard", dashboard_name=name, endpoint_name=ENDPOINT, variant_names=VARIANTS, alarms=alarms
    )
    return dashboard


def synthesize(kind: str, *, with_alarms: bool = True) -> Synthesized:
    stack = bare_stack(f"Dashboard{kind.title().replace('_', '')}")
    alarms: list[cloudwatch.IAlarm] = (
        [
            cloudwatch.Alarm.from_alarm_arn(
                stack, f"Alarm{index}", f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{kind}-{index}"
            )
            for index in range(2)
        ]
        if with_alarms
        else []
    )
    construct = build(kind, stack, alarms)
    template = Template.from_stack(stack)
    return Synthesized(stack, construct, template, rendered_body(template))


@pytest.fixture(scope="module")
def dashboards() -> dict[str, Synthesized]:
    """One bare stack per kind, each with its dashboard and two imported alarms."""
    return {kind: synthesize(kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_one_dashboard_per_stack(dashboards: dict[str, Synthesized], kind: str) -> None:
    synthesized = dashboards[kind]
    synthesized.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": f"llm-{kind.replace('_', '-')}"}
    )
    assert synthesized.construct.dashboard_name == f"llm-{kind.replace('_', '-')}"
    assert isinstance(synthesized.construct.dashboard, cloudwatch.Dashboard)


@pytest.mark.parametrize("kind", KINDS)
def test_alarm_status_comes_first(dashboards: dict[str, Synthesized], kind: str) -> None:
    first = dashboards[kind].widgets[0]
    assert first["type"] == "alarm"
    assert first["properties"]["alarms"] == [
        f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{kind}-{index}" for index in range(2)
    ]
    assert [widget["type"] for widget in dashboards[kind].widgets].count("alarm") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_widgets_fit_the_dashboard_width(dashboards: dict[str, Synthesized], kind: str) -> None:
    for widget in dashboards[kind].widgets:
        assert widget["x"] + widget["width"] <= 24, widget


@pytest.mark.parametrize("kind", ["real_time", "serverless", "asynchronous"])
def test_every_endpoint_shows_invocations_latency_and_errors(
    dashboards: dict[str, Synthesized], kind: str
) -> None:
    metrics = [m for m in dashboards[kind].metrics() if m.namespace == "AWS/SageMaker"]
    for variant in VARIANTS:
        shown = {
            (m.name, m.stat)
            for m in metrics
            if m.dimensions == {"EndpointName": ENDPOINT, "VariantName": variant}
        }
        assert {
            ("Invocations", "Sum"),
            ("Invocation4XXErrors", "Sum"),
            ("Invocation5XXErrors", "Sum"),
        } <= shown
        for latency in ("ModelLatency", "OverheadLatency"):
            assert {(latency, p) for p in ("p50", "p90", "p99")} <= shown


@pytest.mark.parametrize("kind", ["real_time", "asynchronous"])
def test_instance_endpoints_show_utilization_and_instances(
    dashboards: dict[str, Synthesized], kind: str
) -> None:
    synthesized = dashboards[kind]
    for variant in VARIANTS:
        dimensions = {"EndpointName": ENDPOINT, "VariantName": variant}
        utilization = {
            m.name
            for m in synthesized.metrics()
            if m.namespace == "/aws/sagemaker/Endpoints" and m.dimensions == dimensions
        }
        assert utilization == INSTANCE_METRICS
        assert Metric("AWS/SageMaker", "InvocationsPerInstance", dimensions, "Sum") in list(
            synthesized.metrics()
        )
    # No instance-count metric exists: instances serving are Invocations / InvocationsPerInstance.
    assert synthesized.expressions() == ["IF(ipi0 > 0, inv0 / ipi0)", "IF(ipi1 > 0, inv1 / ipi1)"]


def test_serverless_shows_cold_starts_and_concurrency_not_instances(
    dashboards: dict[str, Synthesized],
) -> None:
    synthesized = dashboards["serverless"]
    names = synthesized.names()
    assert names >= SERVERLESS_METRICS | INVOCATION_METRICS
    assert not names & (INSTANCE_METRICS | QUEUE_METRICS | STEP_FUNCTION_METRICS | {"InvocationsPerInstance"})
    assert {m.namespace for m in synthesized.metrics()} == {"AWS/SageMaker"}
    assert {m.stat for m in synthesized.metrics() if m.name == "ModelSetupTime"} == {
        "Average",
        "Maximum",
        "SampleCount",
    }


def test_serverless_without_provisioned_concurrency_leaves_its_metrics_out() -> None:
    stack = bare_stack("DashboardOnDemand")
    WorkloadDashboard(
        stack,
        "Dashboard",
        dashboard_name="llm-on-demand",
        sections=[ServerlessSection(ENDPOINT, VARIANTS, provisioned_concurrency=False)],
    )
    body = json.dumps(rendered_body(Template.from_stack(stack)))
    assert "ServerlessConcurrentExecutionsUtilization" in body
    assert "ModelSetupTime" in body
    assert "ServerlessProvisioned" not in body
    assert '"type": "alarm"' not in body


def test_async_shows_its_queue_by_endpoint(dashboards: dict[str, Synthesized]) -> None:
    synthesized = dashboards["asynchronous"]
    queue = {m.name for m in synthesized.metrics() if m.dimensions == {"EndpointName": ENDPOINT}}
    assert queue >= QUEUE_METRICS
    assert not synthesized.names() & (SERVERLESS_METRICS | STEP_FUNCTION_METRICS)


def test_real_time_has_no_queue_or_serverless_metrics(dashboards: dict[str, Synthesized]) -> None:
    names = dashboards["real_time"].names()
    assert names >= INSTANCE_METRICS | INVOCATION_METRICS
    assert not names & (SERVERLESS_METRICS | QUEUE_METRICS | STEP_FUNCTION_METRICS)


def test_batch_shows_executions_and_transform_job_instances(dashboards: dict[str, Synthesized]) -> None:
    synthesized = dashboards["batch"]
    states = {
        (m.name, m.stat)
        for m in synthesized.metrics()
        if m.dimensions == {"StateMachineArn": STATE_MACHINE_ARN}
    }
    assert {(name, "Sum") for name in STEP_FUNCTION_METRICS - {"ExecutionTime"}} <= states
    assert {("ExecutionTime", p) for p in ("p50", "p90", "p99")} <= states
    assert {m.namespace for m in synthesized.metrics()} == {"AWS/States"}
    searches = synthesized.expressions()
    assert len(searches) == 5
    for search, metric in zip(searches, sorted(INSTANCE_METRICS, key=_transform_order), strict=True):
        assert search == (
            f'SEARCH(\'{{/aws/sagemaker/TransformJobs,Host}} MetricName="{metric}" '
            "Host=llm Host=batch Host=dev', 'Average', 60)"
        )


def test_library_adds_no_dashboard_of_its_own(dashboards: dict[str, Synthesized]) -> None:
    # The library's facade serves only as the scope of its Step Functions monitoring.
    resources = dashboards["batch"].template.to_json()["Resources"].values()
    assert [resource["Type"] for resource in resources] == ["AWS::CloudWatch::Dashboard"]


def test_no_alarm_row_without_alarms() -> None:
    synthesized = synthesize("real_time", with_alarms=False)
    assert "alarm" not in [widget["type"] for widget in synthesized.widgets]


def test_synthesis_is_deterministic(dashboards: dict[str, Synthesized]) -> None:
    for kind in ("batch", "asynchronous"):
        again = synthesize(kind)
        assert json.dumps(again.template.to_json(), sort_keys=True) == json.dumps(
            dashboards[kind].template.to_json(), sort_keys=True
        )


@pytest.mark.parametrize(
    ("variants", "message"),
    [((), "at least one variant"), (("blue", "blue"), "names repeat")],
)
def test_variant_names_are_checked(variants: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkloadDashboard.real_time(
            bare_stack("BadVariants"),
            "Dashboard",
            dashboard_name="x",
            endpoint_name=ENDPOINT,
            variant_names=variants,
        )


def test_job_prefix_must_be_known_at_synth() -> None:
    stack = bare_stack("TokenPrefix")
    state_machine = stepfunctions.StateMachine.from_state_machine_arn(stack, "Jobs", STATE_MACHINE_ARN)
    with pytest.raises(ValueError, match="known at synth time"):
        WorkloadDashboard.batch(
            stack,
            "Dashboard",
            dashboard_name="x",
            state_machine=state_machine,
            job_name_prefix=cdk.Aws.STACK_NAME,
        )


def test_a_dashboard_needs_sections() -> None:
    with pytest.raises(ValueError, match="at least one section"):
        WorkloadDashboard(bare_stack("NoSections"), "Dashboard", dashboard_name="x", sections=[])


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("kind", KINDS)
def test_dashboards_pass_the_rule_packs(
    dashboards: dict[str, Synthesized], kind: str, pack: type[cdk_nag.NagPack]
) -> None:
    assert nag_findings(dashboards[kind].stack, pack) == []


def _transform_order(metric: str) -> int:
    return [
        "CPUUtilization",
        "MemoryUtilization",
        "DiskUtilization",
        "GPUUtilization",
        "GPUMemoryUtilization",
    ].index(metric)
