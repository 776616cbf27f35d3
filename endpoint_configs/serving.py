"""How a large language model is served: ``model.serving``, a preset for the Hugging Face TGI
container (``type: tgi``) or the DJL LMI container with vLLM, lmi-dist or TensorRT-LLM
(``type: lmi``). Without it the model runs in the framework container with its own handler
(``inference.py``), as the built artifacts do.

Each preset turns typed, validated fields into the container's environment (``environment()``);
the weights are an uncompressed S3 prefix, which SageMaker puts in ``/opt/ml/model``. The image is
resolved offline from the SDK's tables (``image_catalog.retrieve_llm_image_uri``). Synth sizes the
model against each instance's GPUs from ``model_config`` (its ``config.json``), KV cache included
(``cost_advisor.llm_memory``).

Container settings:
- TGI on SageMaker: ``HF_MODEL_ID``, ``SM_NUM_GPUS``, ``HF_MODEL_QUANTIZE``, and the launcher's
  ``MAX_INPUT_TOKENS``, ``MAX_TOTAL_TOKENS``, ``MAX_BATCH_PREFILL_TOKENS``,
  ``MAX_CONCURRENT_REQUESTS``, ``DTYPE``
  (https://huggingface.co/docs/text-generation-inference/reference/launcher).
- LMI: ``option.<name>`` as ``OPTION_<NAME>``, ``TENSOR_PARALLEL_DEGREE``; weights found in
  ``/opt/ml/model`` need no model id
  (https://github.com/deepjavalibrary/djl-serving/blob/master/serving/docs/lmi/deployment_guide/configurations.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from endpoint_configs.common import StrictModel

MODEL_DIR = "/opt/ml/model"
"""Where SageMaker puts the model's S3 prefix in the container."""

TGI_QUANTIZE = {"bitsandbytes": "int8", "bitsandbytes-nf4": "nf4", "eetq": "eetq", "fp8": "fp8", "awq": "awq",
                "gptq": "gptq"}  # fmt: skip
"""TGI's --quantize values and the weight format each leaves on the GPU (awq, gptq: pre-quantized
checkpoints only)."""
LMI_QUANTIZE = {"awq": "awq", "gptq": "gptq", "fp8": "fp8"}
"""LMI's option.quantize values (vLLM, lmi-dist) and their weight format."""
DTYPES = {"float16": "fp16", "bfloat16": "bf16"}


class _LlmServing(StrictModel):
    model_config_file: Annotated[str, Field(min_length=1)] = Field(
        description="The model's Hugging Face config.json, relative to the project (layers, heads, KV "
        "heads, quantization_config): what synth sizes the GPUs with. Required.",
    )
    version: str | None = Field(
        default=None, description="Container version, e.g. 3.3.6 (TGI) or 0.33.0 (LMI). Default: newest."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_hub_download(cls, data: object) -> object:
        if isinstance(data, dict) and "model_id" in data:
            raise ValueError(
                "model_id: weights from the Hugging Face Hub would download at every instance start and "
                "need the network (no network isolation); upload them once (python -m model_packaging "
                "upload) and give model.artifact.s3_prefix instead"
            )
        return data

    def weight_format(self, config_dtype: str | None) -> str:
        """What the weights take on the GPU (``cost_advisor.llm_memory`` names)."""
        raise NotImplementedError


class TgiServing(_LlmServing):
    """Hugging Face Text Generation Inference: continuous batching, tensor parallelism across the
    instance's GPUs (``SM_NUM_GPUS``)."""

    type: Literal["tgi"]
    num_gpus: int | None = Field(
        default=None, ge=1, le=8, description="GPUs to shard across, 1-8. Default: the instance's GPUs."
    )
    max_input_tokens: int = Field(ge=1, description="Longest prompt in tokens, >= 1. Required.")
    max_total_tokens: int = Field(
        ge=2, description="Prompt + output per request, > max_input_tokens. Required."
    )
    max_batch_prefill_tokens: int | None = Field(
        default=None, ge=1, description="Tokens prefilled in one batch. Default: TGI's (4096)."
    )
    max_concurrent_requests: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Requests decoded at once (KV cache sizing), 1-1024. Default: 8.",
    )
    dtype: Literal["float16", "bfloat16"] | None = Field(
        default=None, description="Default: the checkpoint's torch_dtype."
    )
    quantize: Literal["bitsandbytes", "bitsandbytes-nf4", "eetq", "fp8", "awq", "gptq"] | None = Field(
        default=None,
        description="Load-time: bitsandbytes, bitsandbytes-nf4, eetq, fp8; awq and gptq only for "
        "checkpoints quantized so. Default: none.",
    )

    @model_validator(mode="after")
    def _lengths(self) -> TgiServing:
        if self.max_input_tokens >= self.max_total_tokens:
            raise ValueError(
                f"max_input_tokens {self.max_input_tokens} must be below max_total_tokens "
                f"{self.max_total_tokens} (the total counts the prompt and the output)"
            )
        return self

    @property
    def max_sequence_tokens(self) -> int:
        return self.max_total_tokens

    @property
    def concurrent_sequences(self) -> int:
        return self.max_concurrent_requests

    def weight_format(self, config_dtype: str | None) -> str:
        if self.quantize is not None:
            return TGI_QUANTIZE[self.quantize]
        return DTYPES.get(self.dtype or "", config_dtype or "fp16")

    def environment(self, *, gpus: int) -> dict[str, str]:
        env = {
            "HF_MODEL_ID": MODEL_DIR,
            "SM_NUM_GPUS": str(self.num_gpus or gpus),
            "MAX_INPUT_TOKENS": str(self.max_input_tokens),
            "MAX_TOTAL_TOKENS": str(self.max_total_tokens),
            "MAX_CONCURRENT_REQUESTS": str(self.max_concurrent_requests),
        }
        if self.max_batch_prefill_tokens is not None:
            env["MAX_BATCH_PREFILL_TOKENS"] = str(self.max_batch_prefill_tokens)
        if self.dtype is not None:
            env["DTYPE"] = self.dtype
        if self.quantize is not None:
            env["HF_MODEL_QUANTIZE"] = self.quantize
        return env

    def tensor_parallel(self, gpus: int) -> int:
        return self.num_gpus or gpus


class LmiServing(_LlmServing):
    """The DJL Large Model Inference container: vLLM (default), lmi-dist or TensorRT-LLM with
    rolling (continuous) batching."""

    type: Literal["lmi"]
    backend: Literal["vllm", "lmi-dist", "trtllm"] = Field(default="vllm", description="Default: vllm.")
    tensor_parallel_degree: int | None = Field(
        default=None, ge=1, le=8, description="GPUs per model copy, 1-8. Default: all of the instance's."
    )
    max_model_len: int = Field(ge=2, description="Prompt + output per sequence in tokens. Required.")
    max_rolling_batch_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Sequences decoded at once (KV cache sizing), 1-1024. Default: 8.",
    )
    dtype: Literal["fp16", "bf16"] | None = Field(default=None, description="Default: fp16 (LMI's).")
    quantize: Literal["awq", "gptq", "fp8"] | None = Field(
        default=None,
        description="awq and gptq only for checkpoints quantized so; fp8 at load time. Default: none.",
    )

    @property
    def max_sequence_tokens(self) -> int:
        return self.max_model_len

    @property
    def concurrent_sequences(self) -> int:
        return self.max_rolling_batch_size

    def weight_format(self, config_dtype: str | None) -> str:
        if self.quantize is not None:
            return LMI_QUANTIZE[self.quantize]
        return self.dtype or "fp16"

    def environment(self, *, gpus: int) -> dict[str, str]:
        env = {
            "OPTION_ROLLING_BATCH": self.backend,
            "TENSOR_PARALLEL_DEGREE": str(self.tensor_parallel_degree or "max"),
            "OPTION_MAX_MODEL_LEN": str(self.max_model_len),
            "OPTION_MAX_ROLLING_BATCH_SIZE": str(self.max_rolling_batch_size),
        }
        if self.dtype is not None:
            env["OPTION_DTYPE"] = self.dtype
        if self.quantize is not None:
            env["OPTION_QUANTIZE"] = self.quantize
        return env

    def tensor_parallel(self, gpus: int) -> int:
        return self.tensor_parallel_degree or gpus


LlmServing = Annotated[TgiServing | LmiServing, Field(discriminator="type")]
