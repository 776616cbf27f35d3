"""The model every workload of an environment serves: its container image, its artifact, its
container environment and network settings, and optionally its Neo compilation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from endpoint_configs.common import S3PrefixUri, S3Uri, StrictModel
from endpoint_configs.compilation import ModelCompilation
from endpoint_configs.optimization import ModelOptimization
from endpoint_configs.serving import LlmServing
from model_packaging.sources import DEFAULT_EXCLUDED


class ContainerImage(StrictModel):
    """The inference container: an ECR image URI, or a framework resolved offline.

    Give either ``uri`` or ``framework`` with ``framework_version``. A framework image is resolved
    per variant instance type (CPU or GPU build) with ``sagemaker.core.image_uris``.
    """

    uri: str | None = Field(
        default=None,
        pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$",
        description="ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>. Default: none.",
    )
    framework: Literal["pytorch", "huggingface", "tensorflow", "sklearn", "xgboost"] | None = Field(
        default=None, description="Deep learning container framework. Default: none."
    )
    framework_version: str | None = Field(
        default=None, description="Framework version, e.g. '2.6' for pytorch. Default: none."
    )
    py_version: str | None = Field(
        default=None, pattern=r"^py3\d+$", description="Python version tag, e.g. py312. Default: none."
    )
    base_framework_version: str | None = Field(
        default=None,
        description="huggingface only: the underlying framework, e.g. 'pytorch2.6.0'. Default: none.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ContainerImage:
        if (self.uri is None) == (self.framework is None):
            raise ValueError("give exactly one of 'uri' or 'framework' (with 'framework_version')")
        if self.framework is not None and self.framework_version is None:
            raise ValueError("'framework' needs 'framework_version'")
        return self


class VpcConfig(StrictModel):
    """Private subnets and security groups for the model containers (no internet by default)."""

    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, max_length=16, description="1-16 subnet IDs."
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, max_length=5, description="1-5 security group IDs."
    )


class ArtifactBuild(StrictModel):
    """Build ``model.tar.gz`` at synth time with ``model_packaging`` and deploy it as a CDK asset.

    Paths are relative to the project root, or ``pkg://<package>/<folder>`` inside an installed
    Python package. The build is reproducible and cached by content, so synth stays deterministic.
    """

    model_dir: str = Field(min_length=1, description="Model files (weights, config, tokenizer).")
    code_dir: str = Field(min_length=1, description="Holds inference.py (and requirements.txt).")
    exclude: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDED),
        description="File-name patterns (fnmatch) left out of the artifact. Default: version-control "
        "and documentation files: .git*, .hg*, *.md, README*. [] packages everything.",
    )
    requirements: str | None = Field(
        default=None,
        min_length=1,
        description="A requirements file packaged as code/requirements.txt instead of the code "
        "folder's own (one handler, images with different packages). Default: the code folder's.",
    )
    vendor_dependencies: bool = Field(
        default=True,
        description="Put wheels of the requirements for the serving images' Python and platform in "
        "code/wheels/ and install only those at start-up (a network-isolated container has no "
        "network). false keeps the plain requirements file: allowed only when no workload runs "
        "network-isolated. Default: true.",
    )


class ArtifactSource(StrictModel):
    """Where the model artifact comes from: exactly one of ``s3_uri``, ``s3_prefix`` or ``build``."""

    s3_uri: S3Uri | None = Field(default=None, description="A model.tar.gz already in S3.")
    s3_prefix: S3PrefixUri | None = Field(
        default=None,
        description="An uncompressed artifact in S3 (large models; ModelDataSource, CompressionType None), "
        "as 'python -m model_packaging upload' prints it.",
    )
    build: ArtifactBuild | None = Field(default=None, description="Build here, deploy as a CDK asset.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ArtifactSource:
        given = [name for name in ("s3_uri", "s3_prefix", "build") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of s3_uri, s3_prefix or build (got {', '.join(given) or 'none'})"
            )
        return self


class ModelConfig(StrictModel):
    """The model served by every endpoint type of an environment."""

    image: ContainerImage | None = Field(
        default=None,
        description="The serving container. Required unless compilation is set (Neo's image for the "
        "target serves a compiled model; image.uri overrides it).",
    )
    artifact: ArtifactSource = Field(description="Where the model artifact comes from. Required.")
    environment: dict[Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")], str] = Field(
        default_factory=dict,
        max_length=100,
        description="Container environment variables (at most 100). Default: none.",
    )
    network_isolation: bool = Field(
        default=True, description="No network access from the container. Default: true."
    )
    vpc: VpcConfig | None = Field(default=None, description="Run in a VPC. Default: none.")
    compilation: ModelCompilation | None = Field(
        default=None,
        description="Compile with SageMaker Neo at deploy time and serve the compiled model. "
        "Default: none (serve the artifact as built).",
    )
    optimization: ModelOptimization | None = Field(
        default=None,
        description="Export and shrink the model while building the artifact (ONNX, int8), behind an "
        "accuracy gate. Default: none (package the model as it is).",
    )

    serving: LlmServing | None = Field(
        default=None,
        description="Serve a large language model with the TGI or LMI container (type: tgi | lmi); "
        "weights from artifact.s3_prefix. Default: none (the framework container and your handler).",
    )

    @model_validator(mode="after")
    def _image_known(self) -> ModelConfig:
        if self.serving is not None:
            return self._llm_consistent()
        if self.image is None and self.compilation is None:
            raise ValueError("give model.image (or model.compilation, whose target decides the image)")
        return self

    def _llm_consistent(self) -> ModelConfig:
        serving = self.serving
        assert serving is not None
        if self.artifact.s3_prefix is None:
            raise ValueError(
                f"serving.type {serving.type} reads uncompressed weights: give artifact.s3_prefix "
                "(python -m model_packaging upload prints it), not s3_uri or build"
            )
        if self.image is not None and self.image.uri is None:
            raise ValueError(
                f"serving.type {serving.type} picks its container: leave model.image out, or give "
                "model.image.uri to override it"
            )
        for name in ("compilation", "optimization"):
            if getattr(self, name) is not None:
                raise ValueError(f"model.{name} does not apply to serving.type {serving.type}")
        return self
