"""Checks that need the built artifact, run once its manifest is known (at synth and validate)."""

from __future__ import annotations

from endpoint_configs.environment import EnvironmentConfig
from endpoint_configs.errors import Problem


def memory_problems(config: EnvironmentConfig, kind: str, required_bytes: int) -> list[Problem]:
    """Problems serving the packaged model (``required_bytes`` to serve, the manifest's estimate)
    on the workload ``kind``, e.g. a serverless memory size too small for it."""
    required_mb = -(-required_bytes // 1024**2)
    return config.workload(kind).memory_problems(required_mb, path=config.workload_path(kind))
