"""An environment's artifact as synth and ``validate`` both see it: built from its ``build`` block
(cached by content) and checked against every workload that will serve it.

One function for both, so ``make validate`` rejects what ``cdk synth`` would reject.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from endpoint_configs import ConfigError, EnvironmentConfig, Problem, memory_problems
from model_packaging.build import BuiltArtifact, build_artifact_cached
from model_packaging.errors import PackagingError
from model_packaging.sources import resolve_source_dir

BUILD_DIR = Path("build") / "artifacts"
"""Where synth-time builds go, under the project root (ignored by git)."""


def prepare_artifact(
    config: EnvironmentConfig, kinds: Sequence[str], *, project_root: Path, source: str
) -> BuiltArtifact | None:
    """Build the configured artifact (None for one already in S3) and check that each workload in
    ``kinds`` can serve it; raise ``ConfigError`` naming ``source`` otherwise."""
    build = config.model.artifact.build
    if build is None:
        return None
    try:
        built = build_artifact_cached(
            resolve_source_dir(build.model_dir, base=project_root),
            resolve_source_dir(build.code_dir, base=project_root),
            project_root / BUILD_DIR,
            excluded=build.exclude,
        )
    except PackagingError as error:
        raise ConfigError(source, [Problem("model.artifact.build", str(error), has_value=False)]) from None
    needed = built.manifest.model.estimated_serving_memory_bytes
    problems = [problem for kind in kinds for problem in memory_problems(config, kind, needed)]
    if problems:
        raise ConfigError(source, problems)
    return built
