"""Checks that need the built artifact, run once its manifest is known (at synth)."""

from __future__ import annotations

from endpoint_configs import limits
from endpoint_configs.errors import Problem
from endpoint_configs.models import EnvironmentConfig, ServerlessEndpoint


def memory_problems(config: EnvironmentConfig, endpoint_type: str, required_bytes: int) -> list[Problem]:
    """A serverless endpoint whose memory is below what the model needs to serve (from the
    artifact manifest's estimate) would fail at the first invocation: report it now."""
    block = config.endpoint(endpoint_type)
    if not isinstance(block, ServerlessEndpoint):
        return []
    required_mb = -(-required_bytes // 1024**2)
    if block.memory_size_mb >= required_mb:
        return []
    enough = [m for m in limits.SERVERLESS_MEMORY_SIZES_MB if m >= required_mb]
    allowed = f"at least {enough[0]}" if enough else "none: the model needs more than serverless offers"
    index = config.offered_endpoint_types.index(endpoint_type)
    return [
        Problem(
            f"endpoints[{index}].memory_size_mb",
            f"the packaged model needs about {required_mb} MB to serve (manifest estimate); "
            f"allowed: {allowed}",
            block.memory_size_mb,
        )
    ]
