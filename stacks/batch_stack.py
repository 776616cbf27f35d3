"""The batch transform workload stack: a state machine that runs a transform job over the input
prefix, started on a schedule or by hand, with notifications, logs, tracing and an alarm."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from endpoint_configs import BatchTransform
from endpoint_configs.naming import BATCH_DEFAULT_PREFIXES
from sagemaker_constructs.compliance import acknowledge, rendered_for_nag
from sagemaker_constructs.dashboard import WorkloadDashboard
from sagemaker_constructs.execution_role import ModelLogs
from stacks import props
from stacks.workload_stack import S3Location, WorkloadStack

NEW_OBJECTS = "new-objects"
"""The ``trigger`` of the executions that check for new input first."""

SAGEMAKER_ERRORS_TO_RETRY = ["SageMaker.ThrottlingException", "SageMaker.ResourceLimitExceeded"]
"""Throttled API calls and no capacity for the instance type: worth retrying with backoff."""


class BatchTransformStack(WorkloadStack[BatchTransform]):
    """A Standard state machine whose task runs a SageMaker transform job to completion
    (``createTransformJob.sync``): job name ``<prefix>-<uuid>``, retries with backoff on throttling
    and capacity errors, a message on the notification topic when the job succeeds or fails, logs
    at level ALL (KMS) and X-Ray tracing. An EventBridge Scheduler schedule starts it when the block
    has one; with ``on_new_objects``, arrivals under the input prefix queue up and a check every
    ``debounce_minutes`` runs one job for them; ``make batch-run`` starts it by hand. The model's
    role reads only the input prefix and writes only the output prefix; the state machine may
    create, describe and stop only jobs with its prefix. Failed executions raise an alarm on the
    environment's topic.
    Exposes ``state_machine``, ``notifications``, ``paths``, ``job_prefix``, ``new_input`` (the
    queue, or None), ``failed_executions`` and ``dashboard`` besides the base's attributes.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        block = self.block
        store = self.store
        configured = {"input": block.input_path, "output": block.output_path}
        locations = {
            kind: self.s3_location(uri, BATCH_DEFAULT_PREFIXES[kind]) for kind, uri in configured.items()
        }
        self.paths = {kind: location.uri for kind, location in locations.items()}
        self._grant_model_io(locations)
        self.new_input = self._new_input_queue() if block.on_new_objects is not None else None

        self.notifications = sns.Topic(self, "Notifications", master_key=store.key, enforce_ssl=True)
        self.state_machine = self._state_machine()
        self.failed_executions = cloudwatch.Alarm(
            self,
            "FailedExecutions",
            alarm_description=f"{self.stack_name}: a batch transform run failed",
            metric=self.state_machine.metric_failed(period=cdk.Duration.minutes(5), statistic="Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.failed_executions.add_alarm_action(cloudwatch_actions.SnsAction(store.alarm_topic))
        if block.schedule is not None:
            self._schedule("Schedule", f"cron({block.schedule.cron})", block.schedule.timezone, "schedule")
        if self.new_input is not None:
            assert block.on_new_objects is not None
            minutes = block.on_new_objects.debounce_minutes
            self._schedule(
                "NewObjectsCheck", f"rate({minutes} minute{'s' if minutes > 1 else ''})", "UTC", NEW_OBJECTS
            )

        self.dashboard = WorkloadDashboard.batch(
            self,
            "Dashboard",
            dashboard_name=self.stack_name,
            state_machine=self.state_machine,
            job_name_prefix=self.job_prefix,
            alarms=[self.failed_executions],
        )
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "JobNamePrefix", value=self.job_prefix)
        self.publish_locations("Batch", configured, BATCH_DEFAULT_PREFIXES)

    @property
    def job_prefix(self) -> str:
        return self.block.job_prefix(self.config.project, self.config.environment)

    def model_logs(self) -> ModelLogs:
        return ModelLogs.of_transform_jobs(self.job_prefix)

    def _grant_model_io(self, locations: dict[str, S3Location]) -> None:
        """The job runs with the model's role: it lists and reads the input, writes the output."""
        input_location, output_location = locations["input"], locations["output"]
        input_bucket, input_objects = input_location.bucket_arn, input_location.objects_arn
        output_objects = output_location.objects_arn
        input_prefix = input_location.key_prefix
        self.served.execution_role.add_policy(
            "BatchIoPolicy",
            [
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[input_objects]),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[input_bucket],
                    conditions={"StringLike": {"s3:prefix": [f"{input_prefix}*"]}},
                ),
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[output_objects]),
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
                    resources=[self.store.key.key_arn],
                ),
            ],
            prefix_reason="A transform job reads every object under its input prefix and writes one "
            "result per object under its output prefix; the grant covers only those prefixes.",
        )

    def _new_input_queue(self) -> sqs.Queue:
        """Object-created events under the input prefix, counted and cleared by the next check."""
        queue = sqs.Queue(
            self,
            "NewInput",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(4),
        )
        cfn_queue = queue.node.default_child
        assert isinstance(cfn_queue, sqs.CfnQueue)
        # checkov reads skips, with their reasons, from the template's metadata.
        cfn_queue.add_metadata(
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_27",
                        "comment": "Encrypted with SQS-managed keys; the messages hold only the names of "
                        "new objects, and a customer key would have to admit EventBridge to the key policy.",
                    }
                ]
            },
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "The queue only counts arrivals between checks; its messages are never processed one by "
            "one, so none can fail into a dead-letter queue.",
        )
        bucket, _, prefix = self.paths["input"].removeprefix("s3://").partition("/")
        events.Rule(
            self,
            "InputCreated",
            description=f"Objects created under {self.paths['input']}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": prefix}]}},
            ),
            targets=[targets.SqsQueue(queue)],
        )
        return queue

    def _check_new_input(self, run_job: sfn.IChainable) -> sfn.IChainable:
        """Executions started by the check first count the queued arrivals: none, nothing to do;
        some, clear them and run one job for all. Other executions run the job at once."""
        assert self.new_input is not None
        count = tasks.CallAwsService(
            self,
            "CountNewInput",
            service="sqs",
            action="getQueueAttributes",
            parameters={
                "QueueUrl": self.new_input.queue_url,
                "AttributeNames": ["ApproximateNumberOfMessages"],
            },
            iam_resources=[self.new_input.queue_arn],
            result_selector={"waiting.$": "States.StringToJson($.Attributes.ApproximateNumberOfMessages)"},
            result_path="$.newInput",
        )
        clear = tasks.CallAwsService(
            self,
            "ClearNewInput",
            service="sqs",
            action="purgeQueue",
            parameters={"QueueUrl": self.new_input.queue_url},
            iam_resources=[self.new_input.queue_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        has_new_input = (
            sfn.Choice(self, "HasNewInput")
            .when(sfn.Condition.number_greater_than("$.newInput.waiting", 0), clear.next(run_job))
            .otherwise(sfn.Succeed(self, "NothingNew"))
        )
        return (
            sfn.Choice(self, "StartedByCheck")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.trigger"),
                    sfn.Condition.string_equals("$.trigger", NEW_OBJECTS),
                ),
                count.next(has_new_input),
            )
            .otherwise(run_job)
        )

    def _state_machine(self) -> sfn.StateMachine:
        block = self.block
        run_job = sfn.CustomState(self, "RunTransformJob", state_json=self._transform_task())
        run_job.add_retry(
            errors=SAGEMAKER_ERRORS_TO_RETRY,
            interval=cdk.Duration.minutes(1),
            max_attempts=4,
            backoff_rate=2,
        )
        notify_failure = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=self.notifications,
            subject=f"{self.stack_name}: batch transform failed",
            message=sfn.TaskInput.from_json_path_at("$.error"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "Failed", error="TransformJobFailed", cause="See the notification"))
        run_job.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        notify_success = tasks.SnsPublish(
            self,
            "NotifySuccess",
            topic=self.notifications,
            subject=f"{self.stack_name}: batch transform completed",
            message=sfn.TaskInput.from_json_path_at("$.job"),
            result_path=sfn.JsonPath.DISCARD,
        )
        log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            encryption_key=self.store.key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # The config's day counts are CloudWatch's allowed values; the L2 takes them only as enum names.
        cfn_log_group = log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = block.log_retention_days
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Runs the {self.job_prefix} transform jobs",
        )
        self._grant_state_machine(role)
        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                self._check_new_input(run_job.next(notify_success))
                if self.new_input is not None
                else run_job.next(notify_success)
            ),
            role=role.without_policy_updates(),  # every grant is in the managed policy above
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=cdk.Duration.minutes(block.max_runtime_minutes + 60),
        )
        # Creating the state machine checks that its role may deliver logs: wait for the policy. CDK
        # also lists the role, which the RoleArn reference already orders (cfn-lint W3005).
        policy = self._state_machine_policy.node.default_child
        cfn_state_machine = state_machine.node.default_child
        assert isinstance(policy, iam.CfnManagedPolicy)
        assert isinstance(cfn_state_machine, sfn.CfnStateMachine)
        cfn_state_machine.add_override("DependsOn", [self.get_logical_id(policy)])
        return state_machine

    def _transform_task(self) -> dict[str, Any]:
        """The ``createTransformJob.sync`` task state, in Amazon States Language.
        https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html"""
        block = self.block
        (instance_type,) = block.instance_types()
        parameters: dict[str, Any] = {
            "TransformJobName.$": f"States.Format('{self.job_prefix}-{{}}', States.UUID())",
            "ModelName": self.model_name_for(instance_type),
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": self.paths["input"]}},
                "ContentType": block.content_type,
                "SplitType": block.split_type,
            },
            "TransformOutput": {
                "S3OutputPath": self.paths["output"],
                "Accept": block.accept,
                "AssembleWith": block.assemble_with,
                "KmsKeyId": self.store.key.key_arn,
            },
            "TransformResources": {"InstanceType": instance_type, "InstanceCount": block.instance_count},
            "BatchStrategy": block.batch_strategy,
            "MaxPayloadInMB": block.max_payload_mb,
            "MaxConcurrentTransforms": block.max_concurrent_transforms,
            "ModelClientConfig": {"InvocationsTimeoutInSeconds": block.invocation_timeout_seconds},
        }
        if props.storage_key_rejection(block.instance_types()) is None:
            parameters["TransformResources"]["VolumeKmsKeyId"] = self.store.key.key_arn
        if block.environment:
            parameters["Environment"] = dict(sorted(block.environment.items()))
        if block.data_processing is not None:
            processing = block.data_processing
            parameters["DataProcessing"] = {
                key: value
                for key, value in (
                    ("InputFilter", processing.input_filter),
                    ("OutputFilter", processing.output_filter),
                    ("JoinSource", processing.join_source),
                )
                if value is not None
            }
        return {
            "Type": "Task",
            "Resource": f"arn:{self.partition}:states:::sagemaker:createTransformJob.sync",
            "Parameters": parameters,
            "ResultPath": "$.job",
            "TimeoutSeconds": block.max_runtime_minutes * 60,
        }

    def _grant_state_machine(self, role: iam.Role) -> None:
        """Exactly what the state machine needs, in one customer managed policy.
        https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html"""
        jobs = (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:transform-job/{self.job_prefix}-*"
        )
        sync_rule = (
            f"arn:{self.partition}:events:{self.region}:{self.account}:"
            "rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"
        )
        self._state_machine_policy = iam.ManagedPolicy(
            self,
            "StateMachinePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:CreateTransformJob",
                        "sagemaker:DescribeTransformJob",
                        "sagemaker:StopTransformJob",
                        "sagemaker:ListTags",
                        "sagemaker:AddTags",
                    ],
                    resources=[jobs],
                ),
                iam.PolicyStatement(
                    actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                    resources=[sync_rule],
                ),
                iam.PolicyStatement(actions=["sns:Publish"], resources=[self.notifications.topic_arn]),
                *(
                    [
                        iam.PolicyStatement(
                            actions=["sqs:GetQueueAttributes", "sqs:PurgeQueue"],
                            resources=[self.new_input.queue_arn],
                        )
                    ]
                    if self.new_input is not None
                    else []
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.store.key.key_arn]
                ),
                # Log delivery and X-Ray take no resource-level permissions.
                # https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogDelivery",
                        "logs:GetLogDelivery",
                        "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups",
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                    ],
                    resources=["*"],
                ),
            ],
        )
        acknowledge(
            self._state_machine_policy,
            f"AwsSolutions-IAM5[Resource::{rendered_for_nag(self, jobs)}]",
            "Transform job names end in a UUID chosen per execution; the grant covers only names with "
            "this workload's prefix.",
        )
        acknowledge(
            self._state_machine_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray tracing actions support no resource-level permissions "
            "(https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).",
        )

    def _schedule(self, construct_id: str, expression: str, time_zone: str, trigger: str) -> None:
        """An EventBridge Scheduler schedule that starts the state machine with ``trigger``."""
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description=f"Starts the {self.job_prefix} state machine ({trigger})",
        )
        policy = iam.ManagedPolicy(
            self,
            f"{construct_id}Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn]
                )
            ],
        )
        schedule = scheduler.CfnSchedule(
            self,
            construct_id,
            schedule_expression=expression,
            schedule_expression_timezone=time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.state_machine.state_machine_arn,
                role_arn=role.role_arn,
                input=json.dumps({"trigger": trigger}),
            ),
        )
        schedule.node.add_dependency(policy)
