"""Typed, validated deployment configuration, one YAML file per environment.

Pure Python: never imports aws_cdk. ``load_environment_config("prod")`` reads
``endpoint_configs/prod.yaml`` and returns an ``EnvironmentConfig`` or raises ``ConfigError``
naming the file, each bad field's path and value, and what is allowed.

Modules by concern: ``common`` (shared types), ``model`` (image and artifact), ``scaling``,
``guardrails``, ``workload`` (what every block has), one module per workload kind (``realtime``,
``serverless``, ``async_inference``), ``environment``, ``naming`` (names packages share),
``limits`` (service limits as data).
"""

from endpoint_configs.async_inference import AsyncEndpoint
from endpoint_configs.batch import BatchTransform
from endpoint_configs.checks import memory_problems
from endpoint_configs.environment import WORKLOAD_BLOCKS, WORKLOAD_KINDS, EnvironmentConfig, StatefulConfig
from endpoint_configs.errors import ConfigError, Problem
from endpoint_configs.loader import (
    CONFIG_DIR,
    available_environments,
    load_environment_config,
    parse_config,
    resolve_endpoint_type,
)
from endpoint_configs.model import ArtifactSource, ContainerImage, ModelConfig
from endpoint_configs.realtime import RealtimeEndpoint
from endpoint_configs.serverless import ServerlessEndpoint
from endpoint_configs.workload import EndpointSettings, WorkloadBlock

__all__ = [
    "CONFIG_DIR",
    "WORKLOAD_BLOCKS",
    "WORKLOAD_KINDS",
    "ArtifactSource",
    "AsyncEndpoint",
    "BatchTransform",
    "ConfigError",
    "ContainerImage",
    "EndpointSettings",
    "EnvironmentConfig",
    "ModelConfig",
    "Problem",
    "RealtimeEndpoint",
    "ServerlessEndpoint",
    "StatefulConfig",
    "WorkloadBlock",
    "available_environments",
    "load_environment_config",
    "memory_problems",
    "parse_config",
    "resolve_endpoint_type",
]
