"""An environment's artifact as synth and ``validate`` both see it: built from its ``build`` block
(cached by content) and checked against every workload that will serve it.

One function for both, so ``make validate`` rejects what ``cdk synth`` would reject. With
``model.compilation`` the build is the Neo-ready input (the model traced to TorchScript).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from endpoint_configs import ConfigError, EnvironmentConfig, Problem, memory_problems
from model_packaging.build import BuiltArtifact, build_artifact_cached
from model_packaging.errors import PackagingError
from model_packaging.neo import InputShapesError, build_neo_input_cached
from model_packaging.sources import resolve_source_dir

BUILD_DIR = Path("build") / "artifacts"
"""Where synth-time builds go, under the project root (ignored by git)."""
TRACED_FRAMEWORK = "PYTORCH"
ONLY_PYTORCH = (
    "only PyTorch models are traced here; give artifact.s3_uri with a Neo-ready archive for other frameworks"
)


@dataclass(frozen=True)
class BuildInputs:
    """What an environment's build block builds, with its paths resolved."""

    model_dir: Path
    code_dir: Path
    excluded: list[str]
    requirements: Path | None
    input_shapes: dict[str, list[int]] | None
    """Trace shapes when the build is the Neo input (``model.compilation``), else None."""


def build_inputs(config: EnvironmentConfig, *, project_root: Path) -> BuildInputs:
    """The build block of ``config`` (``PackagingError`` without one, or with a compilation this
    package cannot trace; ``InputShapesError`` when the compilation has no shapes)."""
    build = config.model.artifact.build
    if build is None:
        raise PackagingError(f"environment '{config.environment}' has no model.artifact.build block to build")
    compilation = config.model.compilation
    shapes = None
    if compilation is not None:
        if compilation.framework != TRACED_FRAMEWORK:
            raise PackagingError(f"model.compilation.framework is {compilation.framework}: {ONLY_PYTORCH}")
        if compilation.input_shapes is None:
            raise InputShapesError("input_shapes are required with a build block: the trace uses them")
        shapes = compilation.input_shapes
    requirements = build.requirements
    return BuildInputs(
        model_dir=resolve_source_dir(build.model_dir, base=project_root),
        code_dir=resolve_source_dir(build.code_dir, base=project_root),
        excluded=list(build.exclude),
        requirements=None if requirements is None else resolve_source_dir(requirements, base=project_root),
        input_shapes=shapes,
    )


def prepare_artifact(
    config: EnvironmentConfig, kinds: Sequence[str], *, project_root: Path, source: str
) -> BuiltArtifact | None:
    """Build the configured artifact (None for one already in S3) and check that each workload in
    ``kinds`` can serve it; raise ``ConfigError`` naming ``source`` otherwise."""
    if config.model.artifact.build is None:
        return None
    compilation = config.model.compilation
    if compilation is not None and compilation.framework != TRACED_FRAMEWORK:
        raise ConfigError(
            source, [Problem("model.compilation.framework", ONLY_PYTORCH, compilation.framework)]
        )
    try:
        inputs = build_inputs(config, project_root=project_root)
        out = project_root / BUILD_DIR
        if inputs.input_shapes is None:
            built = build_artifact_cached(
                inputs.model_dir,
                inputs.code_dir,
                out,
                excluded=inputs.excluded,
                requirements=inputs.requirements,
            )
        else:
            built = build_neo_input_cached(
                inputs.model_dir,
                inputs.code_dir,
                out,
                input_shapes=inputs.input_shapes,
                excluded=inputs.excluded,
                requirements=inputs.requirements,
            )
    except InputShapesError as error:
        raise ConfigError(
            source, [Problem("model.compilation.input_shapes", str(error), has_value=False)]
        ) from None
    except PackagingError as error:
        raise ConfigError(source, [Problem("model.artifact.build", str(error), has_value=False)]) from None
    needed = built.manifest.model.estimated_serving_memory_bytes
    problems = [problem for kind in kinds for problem in memory_problems(config, kind, needed)]
    if problems:
        raise ConfigError(source, problems)
    return built
