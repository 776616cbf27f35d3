"""Typed, validated deployment configuration, one YAML file per environment.

Pure Python: never imports aws_cdk. ``load_environment_config("prod")`` reads
``endpoint_configs/prod.yaml`` and returns an ``EnvironmentConfig`` or raises ``ConfigError``
naming the file, each bad field's path and value, and what is allowed.
"""

from endpoint_configs.checks import memory_problems
from endpoint_configs.errors import ConfigError, Problem
from endpoint_configs.loader import (
    CONFIG_DIR,
    available_environments,
    load_environment_config,
    parse_config,
    resolve_endpoint_type,
)
from endpoint_configs.models import ENDPOINT_TYPES, EnvironmentConfig, RealtimeEndpoint, ServerlessEndpoint

__all__ = [
    "CONFIG_DIR",
    "ENDPOINT_TYPES",
    "ConfigError",
    "EnvironmentConfig",
    "Problem",
    "RealtimeEndpoint",
    "ServerlessEndpoint",
    "available_environments",
    "load_environment_config",
    "memory_problems",
    "parse_config",
    "resolve_endpoint_type",
]
