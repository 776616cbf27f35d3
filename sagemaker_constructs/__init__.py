"""Reusable CDK constructs for SageMaker inference, free of this package's configuration.

One module per concern: ``storage`` (KMS key, buckets, alarm topic), ``model_data`` and
``execution_role`` and ``model`` (what an endpoint serves), ``compilation`` (Neo compilation at
deploy time; its Lambda code is ``neo_compilation_handler``), ``endpoint`` and ``guardrails``
(endpoint config, endpoint, guarded updates), ``endpoint_alarms`` (errors, latency, waste; the
rollback alarms), ``idle_guard`` (report or delete an idle endpoint; its Lambda code is
``idle_guard_handler``), ``dashboard`` (one dashboard per workload stack), ``scaling`` (target
tracking, schedules, scale to zero), ``queue_alarms`` (async queue), ``budget`` (AWS Budgets),
``metrics``, ``compliance`` (cdk-nag packs and reasoned acknowledgments). Props are plain values
or frozen dataclasses with documented defaults.
"""
