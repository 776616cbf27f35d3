"""The idle guard: an endpoint that nobody invokes for a number of hours in a row is reported, or
deleted, before it runs up a bill.

``EndpointIdleGuard`` alarms when the endpoint's invocations, summed over its variants, stay at zero
for ``idle_hours`` hours in a row, and notifies the alarm topic. With ``delete=True`` the alarm also
invokes a small Lambda function (``sagemaker_constructs/idle_guard_handler/index.py``, boto3 only)
that deletes the endpoint, and only the endpoint: its endpoint config and model stay, so
``restore_command`` brings it back exactly as it was.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-actions
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge, acknowledge_wildcard_resources
from sagemaker_constructs.metrics import endpoint_metric

HANDLER_DIR = Path(__file__).with_name("idle_guard_handler")
HOUR = cdk.Duration.hours(1)
MAX_IDLE_HOURS = 168
"""An alarm with a period of an hour evaluates at most 7 days (Period x EvaluationPeriods <= 604,800 s).
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"""
MAX_VARIANTS = 10
"""An endpoint has at most 10 production variants, and a metric math alarm takes at most 10 metrics."""


class EndpointIdleGuard(Construct):
    """Alarm (and, with ``delete``, act) when ``endpoint_name`` has had no invocations on any of
    ``variant_names`` for ``idle_hours`` (1-168) hours in a row.

    Creates:

    - ``alarm``: ``FILL(m0,0)+FILL(m1,0)+...`` of ``AWS/SageMaker`` ``Invocations`` (Sum, one hour,
      dimensions EndpointName and VariantName) below 1 for ``idle_hours`` periods; missing data
      breaches, because an endpoint nobody calls emits no datapoints. It notifies ``alarm_topic``,
      and its description says what to do (delete the endpoint, or switch to serverless or
      asynchronous with scale to zero; ``make advise`` prices the options).
    - with ``delete=True``: ``function``, a Python Lambda function that the alarm invokes directly
      (a Lambda alarm action,
      https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-actions).
      It deletes the endpoint named by its ``ENDPOINT_NAME`` variable when the alarm enters ALARM,
      and leaves the endpoint config and model; then it resets the alarm (named
      ``<endpoint>-idle-guard``) to OK, so an endpoint restored and left idle is deleted again
      after ``idle_hours``, and one skipped while being changed is tried again. Its role may only
      describe and delete that one endpoint (``sagemaker:DescribeEndpoint``,
      ``sagemaker:DeleteEndpoint`` on its ARN, in lower case as SageMaker writes ARNs), reset its
      own alarm (``cloudwatch:SetAlarmState``) and write to its own log group (one month,
      encrypted with ``key`` when given). Its policy is customer managed; no AWS managed policy.

    Exposes ``endpoint_name``, ``alarm``, ``function`` (None without ``delete``), and
    ``restore_command``: the AWS CLI command that recreates a deleted endpoint from
    ``endpoint_config_name`` (a token string when the config name is one). It creates no stack
    outputs.

    ``endpoint_name`` must be known at synth time (not a token): the alarm's dimensions and the
    function's permission are built from it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_names: Sequence[str],
        endpoint_config_name: str,
        idle_hours: int,
        delete: bool,
        alarm_topic: sns.ITopic,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        _check(endpoint_name, variant_names, idle_hours)
        self.endpoint_name = endpoint_name
        self.restore_command = (
            f"aws sagemaker create-endpoint --endpoint-name {endpoint_name} "
            f"--endpoint-config-name {endpoint_config_name}"
        )
        # With delete, a fixed name, so the function may reset this one alarm (the ARN of the alarm
        # resource would be a dependency cycle: alarm -> function -> policy -> alarm).
        alarm_name = f"{endpoint_name}-idle-guard" if delete else None
        self.alarm = self._alarm(endpoint_name, list(variant_names), idle_hours, alarm_name)
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
        self.function: lambda_.Function | None = None
        if delete:
            assert alarm_name is not None
            self.function = self._deleter(endpoint_name, alarm_name, key)
            self.alarm.add_alarm_action(cloudwatch_actions.LambdaAction(self.function))

    def _alarm(
        self, endpoint_name: str, variant_names: list[str], idle_hours: int, alarm_name: str | None
    ) -> cloudwatch.Alarm:
        metrics: dict[str, cloudwatch.IMetric] = {
            f"m{i}": endpoint_metric(endpoint_name, "Invocations", "Sum", name).with_(period=HOUR)
            for i, name in enumerate(variant_names)
        }
        math = cloudwatch.MathExpression(
            expression="+".join(f"FILL({m},0)" for m in metrics),
            using_metrics=metrics,
            label="Invocations, all variants",
            period=HOUR,
        )
        hours = f"{idle_hours} hour{'s' if idle_hours > 1 else ''}"
        happened = (
            f"{endpoint_name} has had no invocations for {hours} in a row, and costs money while it runs."
        )
        options = (
            "switch to serverless, or to asynchronous with scale to zero; make advise prices every option "
            "for this workload."
        )
        if alarm_name is not None:
            then = (
                "The idle guard deletes the endpoint now; its endpoint config and model stay. To bring it "
                f"back as it was: {self.restore_command}. If it is used only now and then, {options}"
            )
        else:
            then = f"If nobody needs it, delete it. For intermittent traffic, {options}"
        return math.create_alarm(
            self,
            "Alarm",
            alarm_name=alarm_name,
            alarm_description=f"{happened} {then}",
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=idle_hours,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

    def _deleter(self, endpoint_name: str, alarm_name: str, key: kms.IKey | None) -> lambda_.Function:
        stack = cdk.Stack.of(self)
        endpoint_arn = (
            f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:endpoint/{endpoint_name.lower()}"
        )
        alarm_arn = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:{alarm_name}"
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda that deletes the idle endpoint {endpoint_name} (not its config or model)",
        )
        statements = [
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"], resources=[endpoint_arn]
            ),
            iam.PolicyStatement(actions=["cloudwatch:SetAlarmState"], resources=[alarm_arn]),
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group.log_group_arn}:*"],
            ),
        ]
        # A customer managed policy, not an inline one (HIPAA.Security-IAMNoInlinePolicy).
        policy = iam.ManagedPolicy(self, "Policy", roles=[role], statements=statements)
        acknowledge_wildcard_resources(
            policy,
            statements,
            lambda _: (
                "Lambda names its log streams per execution environment; the grant covers this "
                "function's log group only."
            ),
        )
        function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            handler="index.handler",
            role=role.without_policy_updates(),
            log_group=log_group,
            timeout=cdk.Duration.seconds(30),  # two SageMaker calls
            environment={"ENDPOINT_NAME": endpoint_name, "ALARM_NAME": alarm_name},
            description=f"Deletes the endpoint {endpoint_name} when its idle alarm fires",
        )
        # The role reference already orders the function after the role (cfn-lint W3005); what an
        # invocation needs is the role's policy.
        cfn_function = function.node.default_child
        cfn_policy = policy.node.default_child
        assert isinstance(cfn_function, cdk.CfnResource)
        assert isinstance(cfn_policy, cdk.CfnResource)
        cfn_function.add_override("DependsOn", [stack.get_logical_id(cfn_policy)])
        self._acknowledge(function, log_group, encrypted=key is not None)
        return function

    def _acknowledge(self, function: lambda_.Function, log_group: logs.LogGroup, *, encrypted: bool) -> None:
        """cdk-nag's HIPAA Lambda rules, and checkov's same rules, with the reasons they do not apply."""
        reasons = {
            ("HIPAA.Security-LambdaDLQ", "CKV_AWS_116"): "A failed deletion leaves the endpoint running and "
            "the alarm's notification already sent to the alarm topic; the function logs every failure "
            "and Lambda retries it twice. A dead-letter target would need rights beyond the endpoint.",
            ("HIPAA.Security-LambdaConcurrency", "CKV_AWS_115"): "Runs once when the alarm enters ALARM; "
            "reserved concurrency would take capacity from the account (and fails on accounts whose "
            "limit is 10) and buy nothing.",
            ("HIPAA.Security-LambdaInsideVPC", "CKV_AWS_117"): "Calls only the SageMaker API; in a VPC it "
            "would need an interface endpoint and would protect no data.",
        }
        for (rule, _), reason in reasons.items():
            acknowledge(function, rule, reason)
        skips = [{"id": check, "comment": reason} for (_, check), reason in reasons.items()]
        skips.append(
            {
                "id": "CKV_AWS_173",
                "comment": "The environment holds only the endpoint name, no secret; Lambda encrypts it "
                "at rest with an AWS key.",
            }
        )
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, cdk.CfnResource)
        cfn_function.add_metadata("checkov", {"skip": skips})
        if not encrypted:
            reason = (
                "No key was given: the log holds only the endpoint's name and what the guard did, and "
                "CloudWatch Logs encrypts it at rest with its own keys."
            )
            acknowledge(log_group, "HIPAA.Security-CloudWatchLogGroupEncrypted", reason)
            cfn_log_group = log_group.node.default_child
            assert isinstance(cfn_log_group, cdk.CfnResource)
            cfn_log_group.add_metadata("checkov", {"skip": [{"id": "CKV_AWS_158", "comment": reason}]})


def _check(endpoint_name: str, variant_names: Sequence[str], idle_hours: int) -> None:
    """Refuse props the alarm or the function could not honour, naming the value and what is allowed."""
    if isinstance(idle_hours, bool) or not 1 <= idle_hours <= MAX_IDLE_HOURS:
        raise ValueError(
            f"idle_hours {idle_hours!r}: allowed 1-{MAX_IDLE_HOURS} "
            "(an hourly alarm evaluates at most 7 days)"
        )
    if not variant_names:
        raise ValueError("variant_names is empty: give every production variant of the endpoint")
    if len(variant_names) > MAX_VARIANTS:
        raise ValueError(f"{len(variant_names)} variant names: an endpoint has at most {MAX_VARIANTS}")
    if len(set(variant_names)) != len(variant_names):
        raise ValueError(f"variant_names repeats a name: {list(variant_names)}")
    if cdk.Token.is_unresolved(endpoint_name):
        raise ValueError(
            "endpoint_name must be known at synth time, not a token: the alarm's dimensions and the "
            "function's permission (a lower-case ARN) are built from it"
        )
