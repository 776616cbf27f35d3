"""Reusable CDK constructs for SageMaker inference, free of this package's configuration.

One module per concern: ``storage`` (KMS key, buckets, alarm topic), ``model_data`` and
``execution_role`` and ``model`` (what an endpoint serves), ``compilation`` (Neo compilation at
deploy time; its Lambda code is ``neo_compilation_handler``), ``endpoint`` and ``guardrails``
(endpoint config, endpoint, guarded updates), ``scaling`` (target tracking, schedules, scale to
zero), ``queue_alarms`` (async queue), ``metrics``, ``compliance`` (cdk-nag packs and reasoned
acknowledgments). Props are plain values or frozen dataclasses with documented defaults.
"""
