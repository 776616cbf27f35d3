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
from endpoint_configs.images import image_uri
from endpoint_configs.optimization import ModelOptimization
from model_packaging.build import BuiltArtifact, build_artifact_cached
from model_packaging.errors import PackagingError
from model_packaging.neo import InputShapesError, build_neo_input_cached
from model_packaging.sources import collect_sources, resolve_source_dir
from model_packaging.wheels import (
    VendoredDependencies,
    known_images,
    requirement_lines,
    serving_image,
    vendor_requirements,
)

BUILD_DIR = Path("build") / "artifacts"
"""Where synth-time builds go, under the project root (ignored by git)."""
WHEEL_CACHE_DIR = Path("build") / "wheels"
"""Where vendored wheels are cached, under the project root (ignored by git)."""
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
    built = build_environment_artifact(config, project_root=project_root, source=source)
    needed = built.manifest.model.estimated_serving_memory_bytes
    problems = [problem for kind in kinds for problem in memory_problems(config, kind, needed)]
    if problems:
        raise ConfigError(source, problems)
    return built


def build_environment_artifact(
    config: EnvironmentConfig, *, project_root: Path, source: str
) -> BuiltArtifact:
    """The artifact of ``config``'s build block, as synth deploys it: optimized or traced when the
    config asks, its requirements vendored as wheels, cached by content. ``ConfigError`` naming
    ``source`` and the field for anything that stops the build."""
    compilation = config.model.compilation
    if compilation is not None and compilation.framework != TRACED_FRAMEWORK:
        raise ConfigError(
            source, [Problem("model.compilation.framework", ONLY_PYTORCH, compilation.framework)]
        )
    try:
        inputs = build_inputs(config, project_root=project_root)
    except InputShapesError as error:
        raise ConfigError(
            source, [Problem("model.compilation.input_shapes", str(error), has_value=False)]
        ) from None
    try:
        # the sources first: a missing folder or handler is the build block's fault, whatever follows
        collect_sources(
            inputs.model_dir, inputs.code_dir, excluded=inputs.excluded, requirements=inputs.requirements
        )
    except PackagingError as error:
        raise ConfigError(source, [Problem("model.artifact.build", str(error), has_value=False)]) from None
    vendored = vendor_dependencies(config, inputs, project_root=project_root, source=source)
    out = project_root / BUILD_DIR
    optimization = config.model.optimization
    try:
        if optimization is not None:
            from model_packaging.optimize import read_probes

            probe_file = resolve_source_dir(optimization.probe_file, base=project_root)
            try:
                read_probes(probe_file)
            except PackagingError as error:
                raise ConfigError(
                    source, [Problem("model.optimization.probe_file", str(error), optimization.probe_file)]
                ) from None
            return _build_optimized(inputs, optimization, out, vendored, probe_file=probe_file)
        if inputs.input_shapes is not None:
            return build_neo_input_cached(
                inputs.model_dir,
                inputs.code_dir,
                out,
                input_shapes=inputs.input_shapes,
                excluded=inputs.excluded,
                requirements=inputs.requirements,
                vendored=vendored,
            )
        return build_artifact_cached(
            inputs.model_dir,
            inputs.code_dir,
            out,
            excluded=inputs.excluded,
            requirements=inputs.requirements,
            vendored=vendored,
        )
    except InputShapesError as error:
        raise ConfigError(
            source, [Problem("model.compilation.input_shapes", str(error), has_value=False)]
        ) from None
    except PackagingError as error:
        where = "model.artifact.build"
        if optimization is not None:
            gate_failed = type(error).__name__ == "AccuracyGateError"
            where = "model.optimization.thresholds" if gate_failed else "model.optimization"
        raise ConfigError(source, [Problem(where, str(error), has_value=False)]) from None


def _build_optimized(
    inputs: BuildInputs,
    optimization: ModelOptimization,
    out: Path,
    vendored: VendoredDependencies | None,
    *,
    probe_file: Path,
) -> BuiltArtifact:
    from model_packaging.optimize import AccuracyThresholds, build_optimized_cached

    return build_optimized_cached(
        inputs.model_dir,
        inputs.code_dir,
        out,
        method=optimization.method,
        probe_file=probe_file,
        thresholds=AccuracyThresholds(
            mean=optimization.thresholds.mean, minimum=optimization.thresholds.minimum
        ),
        excluded=inputs.excluded,
        requirements=inputs.requirements,
        vendored=vendored,
    )


def vendor_dependencies(
    config: EnvironmentConfig, inputs: BuildInputs, *, project_root: Path, source: str
) -> VendoredDependencies | None:
    """Wheels of the artifact's requirements for every serving image of ``config`` (None when it
    has none); ``ConfigError`` when the requirements would need the network in a network-isolated
    container, or cannot be vendored."""
    build = config.model.artifact.build
    assert build is not None  # build_inputs checked it
    requirements = inputs.requirements or inputs.code_dir / "requirements.txt"
    if not requirements.is_file():
        if inputs.requirements is None:
            return None
        raise ConfigError(
            source,
            [Problem("model.artifact.build.requirements", "no such file", build.requirements)],
        )
    try:
        lines = requirement_lines(requirements)
    except PackagingError as error:
        raise ConfigError(source, [Problem("model.artifact.build", str(error), has_value=False)]) from None
    if not lines:
        return None
    field = "model.artifact.build.vendor_dependencies"
    if not build.vendor_dependencies:
        isolated = [config.workload_path(b.type) for b in config.endpoints if config.network_isolation(b)]
        if not isolated:
            return None
        raise ConfigError(
            source,
            [
                Problem(
                    field,
                    f"{isolated[0]} runs network-isolated (network_isolation defaults to true), so its "
                    f"container cannot reach a package index to install {requirements.name} "
                    f"({len(lines)} requirement{'s' if len(lines) > 1 else ''}) at start-up; allowed: true "
                    "(ship them as wheels), or network_isolation: false on every workload",
                    False,
                )
            ],
        )
    images = []
    for block in config.endpoints:
        for instance_type in block.image_instance_types():
            uri = image_uri(config.model, region=config.region, instance_type=instance_type)
            image = serving_image(uri)
            if image is None:
                raise ConfigError(
                    source,
                    [
                        Problem(
                            field,
                            f"cannot vendor {requirements.name} for {uri} "
                            f"({config.workload_path(block.type)}): "
                            "its Python and packages are not in model_packaging/serving_images.json "
                            f"(known: {', '.join(known_images())}); add the image there, or set "
                            "vendor_dependencies: false with network_isolation: false",
                            True,
                        )
                    ],
                )
            if image not in images:
                images.append(image)
    try:
        return vendor_requirements(requirements, images, project_root / WHEEL_CACHE_DIR)
    except PackagingError as error:
        raise ConfigError(source, [Problem(field, str(error), has_value=False)]) from None
