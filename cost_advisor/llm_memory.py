"""GPU memory to serve a large language model, from its Hugging Face ``config.json``, and the cheapest
SageMaker instance (with its tensor-parallel degree) that holds it.

The arithmetic (all in bytes; GiB = 2**30):

- **Parameters** of a decoder-only Llama-family model (``llama``, ``mistral``, ``qwen2``), with
  ``H`` hidden_size, ``I`` intermediate_size, ``L`` num_hidden_layers, ``V`` vocab_size, ``n_q``
  attention heads, ``n_kv`` key/value heads (grouped-query attention) and ``d`` head_dim::

      embeddings  V x H
      per layer   q, o: 2 x H x (n_q x d)    k, v: 2 x H x (n_kv x d)    (+ q/k/v biases in Qwen2)
                  gated MLP gate, up, down: 3 x H x I
                  two RMSNorms: 2 x H
      final norm  H
      lm_head     V x H, unless tie_word_embeddings

  This is the module layout that ``transformers`` prints for these models (``LlamaForCausalLM``,
  ``MistralForCausalLM``, ``Qwen2ForCausalLM``), and it gives the published totals: Llama-3-8B
  8,030,261,248; Mistral-7B 7,241,732,096; Qwen2-7B 7,615,616,512; Llama-3-70B 70,553,706,496.
- **Weights**: the linear layers inside the decoder layers (q, k, v, o, gate, up, down) at the bytes
  per weight of ``WEIGHT_FORMATS``; embeddings, lm_head, norms and biases stay at 16 bits (32 for
  fp32): AutoAWQ, GPTQ, bitsandbytes and vLLM's fp8 leave them unquantized.
- **KV cache** = 2 (K and V) x kv_bytes x layers x KV heads x head_dim x tokens x sequences, with
  kv_bytes 2 for an fp16/bf16 cache (4 for fp32 models) and 1 for an fp8 cache (vLLM
  ``--kv-cache-dtype fp8``). Tokens are the whole sequence (prompt and output: TGI's
  ``--max-total-tokens``, vLLM's ``--max-model-len``).
- **Overhead per GPU** = ``RUNTIME_RESERVE_BYTES_PER_GPU`` (CUDA context, cuBLAS workspaces, NCCL
  buffers, CUDA graphs) + activations of one prefill chunk (see ``activation_bytes``).
- **Per GPU at tensor-parallel degree tp** = weights / tp + KV cache / tp + overhead. vLLM and TGI
  shard attention heads, KV heads and the MLP over tp GPUs, so tp must divide both head counts.
- **Fits** when the per-GPU need <= per-GPU memory x ``USABLE_GPU_FRACTION`` (0.9, vLLM's default
  ``gpu_memory_utilization``; https://docs.vllm.ai/en/latest/configuration/engine_args.html).

Estimates for choosing an instance, not guarantees: a load test on the chosen instance decides.
No ML framework is imported; the instance catalog is ``endpoint_configs.instance_catalog``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from endpoint_configs.instance_catalog import CatalogError, hosting_price, instance_types

GIB = 1024**3

USABLE_GPU_FRACTION = 0.9
"""Share of each GPU's memory the model server may plan with: vLLM's default
``gpu_memory_utilization`` 0.9 (https://docs.vllm.ai/en/latest/configuration/engine_args.html). TGI's
``--cuda-memory-fraction`` defaults to 1.0
(https://huggingface.co/docs/text-generation-inference/basic_tutorials/launcher); 0.9 keeps 10 % for
allocator fragmentation and what this estimate misses."""

RUNTIME_RESERVE_BYTES_PER_GPU = 3 * GIB // 2
"""1.5 GiB per GPU outside weights, KV cache and activations: the CUDA context and kernels of
PyTorch (0.3-0.8 GiB depending on the GPU and CUDA version), cuBLAS workspaces, NCCL buffers when
tp > 1, and vLLM's CUDA graphs (typically 0.5-1 GiB, logged at start-up). This package's allowance,
at the upper end of the 1-1.5 GiB usually quoted."""

PREFILL_CHUNK_TOKENS = 4096
"""Tokens in one prefill forward pass, the activation peak: TGI's ``--max-batch-prefill-tokens``
default (4096; the launcher page above); vLLM's chunked prefill uses 2048-8192
(``--max-num-batched-tokens``)."""

KV_CACHE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "fp8": 1}
"""Bytes per cached K or V element by ``kv_cache_dtype``; ``auto`` follows the weights' compute dtype
(4 for fp32 weights, else 2), as vLLM's ``--kv-cache-dtype auto`` does."""

LLAMA_FAMILY = ("llama", "mistral", "qwen2")
"""``model_type`` values whose layout ``parameter_count`` knows (Qwen2 adds q/k/v biases)."""


class LlmSizingError(ValueError):
    """A config.json that cannot be sized, or a request that cannot be served as asked."""


@dataclass(frozen=True)
class WeightFormat:
    """How the decoder layers' linear weights are stored on the GPU.

    ``linear_bytes`` is per weight of q/k/v/o/gate/up/down (embeddings, lm_head, norms and biases stay
    at 2 bytes, 4 for fp32). ``prequantized`` names the ``quantization_config.quant_method`` the
    checkpoint must carry (awq, gptq), or None when the server quantizes at load time (fp8, int8,
    eetq, nf4) or does not quantize (fp32, fp16, bf16).
    """

    name: str
    linear_bytes: float
    prequantized: str | None
    source: str


def grouped_int_bytes(bits: int, group_size: int) -> float:
    """Bytes per weight of a group-wise integer format (AWQ, GPTQ): ``bits``/8 for the packed
    weights, plus one fp16 scale (2 bytes) and one packed ``bits``-wide zero point per group of
    ``group_size`` weights of an output row; ``group_size`` -1 (one group per row) adds nothing
    worth counting. 4-bit, group 128: 0.5 + (2 + 0.5) / 128 = 0.51953125 bytes (4.156 bits).
    GPTQ's ``g_idx`` (one int32 per input row) is below 0.1 % and left out."""
    per_weight = bits / 8
    if group_size > 0:
        per_weight += (2 + bits / 8) / group_size
    return per_weight


WEIGHT_FORMATS: dict[str, WeightFormat] = {
    "fp32": WeightFormat("fp32", 4.0, None, "IEEE float32"),
    "fp16": WeightFormat("fp16", 2.0, None, "IEEE float16"),
    "bf16": WeightFormat("bf16", 2.0, None, "bfloat16"),
    "fp8": WeightFormat(
        "fp8", 1.0, None, "vLLM --quantization fp8 / TGI --quantize fp8: e4m3 weights, one scale per tensor"
    ),
    "int8": WeightFormat(
        "int8", 1.0, None, "bitsandbytes LLM.int8 (TGI --quantize bitsandbytes): int8 + fp32 scale per row"
    ),
    "eetq": WeightFormat("eetq", 1.0, None, "EETQ (TGI --quantize eetq): int8 per-channel"),
    "nf4": WeightFormat(
        "nf4",
        0.5 + 0.127 / 8,
        None,
        "bitsandbytes NF4 with double quantization (TGI --quantize bitsandbytes-nf4): 4 bits + 0.127 bits "
        "of block constants per weight (QLoRA, https://arxiv.org/abs/2305.14314, section 3)",
    ),
    "awq": WeightFormat(
        "awq",
        grouped_int_bytes(4, 128),
        "awq",
        "AutoAWQ 4-bit GEMM, group 128: packed int4 + fp16 scale + int4 zero per group; the config's "
        "bits and group_size are used when given",
    ),
    "gptq": WeightFormat(
        "gptq",
        grouped_int_bytes(4, 128),
        "gptq",
        "GPTQ 4-bit, group 128: packed int4 + fp16 scale + int4 zero per group; the config's bits and "
        "group_size are used when given",
    ),
}
"""Bytes per linear weight by the name a caller asks for (``dtype_or_quantization``)."""

_ALIASES = {
    "float32": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "bitsandbytes": "int8",
    "bitsandbytes-nf4": "nf4",
}
_PREQUANTIZED_TO_FORMAT = {"awq": "awq", "gptq": "gptq", "fp8": "fp8"}


@dataclass(frozen=True)
class Quantization:
    """A checkpoint's ``quantization_config``: ``method`` (quant_method, e.g. awq, gptq), ``bits``
    (e.g. 4) and ``group_size`` (e.g. 128; -1 = per output row; None when the config has none)."""

    method: str
    bits: int | None
    group_size: int | None

    def describe(self) -> str:
        bits = f" {self.bits}-bit" if self.bits else ""
        group = f", group {self.group_size}" if self.group_size else ""
        return f"{self.method}{bits}{group}"


class GpuInstance(Protocol):
    """What the sizing reads of an instance type (``endpoint_configs.instance_catalog.InstanceType``)."""

    @property
    def name(self) -> str: ...
    @property
    def gpus(self) -> int: ...
    @property
    def gpu_memory_gib(self) -> float:
        """All of the instance's accelerator memory together."""
        ...

    @property
    def has_gpu(self) -> bool:
        """True for NVIDIA GPUs only."""
        ...


@dataclass(frozen=True)
class ModelArchitecture:
    """The fields of a Hugging Face ``config.json`` that size a decoder-only language model.

    Required positive integers: num_hidden_layers, num_attention_heads, hidden_size,
    intermediate_size, vocab_size. Defaults: num_key_value_heads = num_attention_heads (no GQA);
    head_dim = hidden_size // num_attention_heads; tie_word_embeddings False;
    max_position_embeddings None (no context check); torch_dtype None; quantization None
    (from ``quantization_config``: quant_method, bits, group_size).
    """

    source: str
    """The file the config came from (or the name the caller gave), for messages."""
    model_type: str
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    hidden_size: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    max_position_embeddings: int | None = None
    torch_dtype: str | None = None
    quantization: Quantization | None = None
    attention_bias: bool = False
    """Llama's ``attention_bias``: biases on q, k, v and o. Qwen2 always has q/k/v biases."""
    mlp_bias: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, source: str = "config.json") -> ModelArchitecture:
        """Read the fields from a parsed config.json; LlmSizingError naming ``source`` and the field
        when a required one is missing or not a positive integer."""
        if not isinstance(config, Mapping):
            raise LlmSizingError(f"{source}: not a JSON object")
        layers = _positive_int(config, "num_hidden_layers", source)
        heads = _positive_int(config, "num_attention_heads", source)
        hidden = _positive_int(config, "hidden_size", source)
        intermediate = _positive_int(config, "intermediate_size", source)
        vocab = _positive_int(config, "vocab_size", source)
        kv_heads = _positive_int(config, "num_key_value_heads", source, default=heads)
        if heads % kv_heads:
            raise LlmSizingError(
                f"{source}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            )
        if config.get("head_dim") is None and hidden % heads:
            raise LlmSizingError(
                f"{source}: hidden_size {hidden} is not a multiple of num_attention_heads {heads} "
                "and there is no head_dim"
            )
        head_dim = _positive_int(config, "head_dim", source, default=hidden // heads)
        max_positions = config.get("max_position_embeddings")
        if max_positions is not None:
            max_positions = _positive_int(config, "max_position_embeddings", source)
        dtype = config.get("torch_dtype", config.get("dtype"))
        return cls(
            source=source,
            model_type=str(config.get("model_type", "unknown")),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            hidden_size=hidden,
            head_dim=head_dim,
            intermediate_size=intermediate,
            vocab_size=vocab,
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            max_position_embeddings=max_positions,
            torch_dtype=None if dtype is None else str(dtype),
            quantization=_quantization(config.get("quantization_config"), source),
            attention_bias=bool(config.get("attention_bias", False)),
            mlp_bias=bool(config.get("mlp_bias", False)),
        )

    @classmethod
    def from_file(cls, path: Path | str) -> ModelArchitecture:
        """Read a config.json file; LlmSizingError when it cannot be read or is not JSON."""
        path = Path(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise LlmSizingError(f"{path}: cannot read the config ({error.strerror})") from None
        except json.JSONDecodeError as error:
            raise LlmSizingError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
        return cls.from_config(config, source=str(path))

    def _check_family(self) -> None:
        if self.model_type not in LLAMA_FAMILY:
            raise LlmSizingError(
                f"{self.source}: model_type {self.model_type!r} is not sized here; the parameter count "
                f"knows the Llama-family layout ({', '.join(LLAMA_FAMILY)})"
            )

    def linear_weight_count(self) -> int:
        """Weights of the decoder layers' linear layers (q, k, v, o, gate, up, down), without biases:
        the part that AWQ, GPTQ, bitsandbytes, EETQ and fp8 quantize."""
        self._check_family()
        hidden, q_width, kv_width = self.hidden_size, self.num_attention_heads * self.head_dim, self._kv_width
        attention = 2 * hidden * q_width + 2 * hidden * kv_width
        mlp = 3 * hidden * self.intermediate_size
        return self.num_hidden_layers * (attention + mlp)

    def parameter_count(self) -> int:
        """All parameters: embeddings, the decoder layers (projections, biases, two norms each), the
        final norm and lm_head unless tied to the embeddings."""
        linear = self.linear_weight_count()
        return linear + self._other_parameter_count()

    @property
    def _kv_width(self) -> int:
        return self.num_key_value_heads * self.head_dim

    def _other_parameter_count(self) -> int:
        """Parameters outside the quantizable linear weights: kept at 16 bits by every format."""
        hidden = self.hidden_size
        q_width = self.num_attention_heads * self.head_dim
        per_layer = 2 * hidden  # input and post-attention RMSNorm
        if self.model_type == "qwen2" or self.attention_bias:
            per_layer += q_width + 2 * self._kv_width
        if self.attention_bias:
            per_layer += hidden
        if self.mlp_bias:
            per_layer += 2 * self.intermediate_size + hidden
        embeddings = self.vocab_size * hidden
        lm_head = 0 if self.tie_word_embeddings else self.vocab_size * hidden
        return embeddings + self.num_hidden_layers * per_layer + hidden + lm_head

    def kv_cache_bytes_per_token(self, kv_bytes: int = 2) -> int:
        """2 (K and V) x kv_bytes x layers x KV heads x head_dim."""
        return 2 * kv_bytes * self.num_hidden_layers * self.num_key_value_heads * self.head_dim


def _positive_int(config: Mapping[str, Any], field: str, source: str, *, default: int | None = None) -> int:
    value = config.get(field)
    if value is None:
        if default is not None:
            return default
        raise LlmSizingError(f"{source}: {field} is missing (needed to size the model)")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LlmSizingError(f"{source}: {field} {value!r} must be a positive integer")
    return value


def _quantization(entry: object, source: str) -> Quantization | None:
    if entry is None:
        return None
    if not isinstance(entry, Mapping) or not entry.get("quant_method"):
        raise LlmSizingError(f"{source}: quantization_config must be an object with a quant_method")
    method = str(entry["quant_method"]).lower()
    bits = entry.get("bits", entry.get("w_bit"))
    if method == "bitsandbytes":
        bits = 4 if entry.get("load_in_4bit") else 8 if entry.get("load_in_8bit") else bits
    elif method == "fp8" and bits is None:
        bits = 8
    group = entry.get("group_size", entry.get("q_group_size"))
    for field, value in (("bits", bits), ("group_size", group)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise LlmSizingError(f"{source}: quantization_config.{field} {value!r} must be an integer")
    if bits is not None and bits <= 0:
        raise LlmSizingError(f"{source}: quantization_config.bits {bits} must be positive")
    return Quantization(method=method, bits=bits, group_size=group)


def weight_format(requested: str) -> WeightFormat:
    """The entry of ``WEIGHT_FORMATS`` for a name or alias (``float16``, ``bitsandbytes-nf4`` ...)."""
    name = _ALIASES.get(requested.lower(), requested.lower())
    if name not in WEIGHT_FORMATS:
        allowed = ", ".join([*WEIGHT_FORMATS, *_ALIASES])
        raise LlmSizingError(f"dtype_or_quantization {requested!r}: allowed: {allowed}")
    return WEIGHT_FORMATS[name]


def check_quantization(arch: ModelArchitecture, requested: str) -> WeightFormat:
    """The weight format to size ``arch`` with when served as ``requested``.

    awq and gptq need pre-quantized weights: the config must carry a ``quantization_config`` with that
    quant_method. A pre-quantized checkpoint is served only in its own format: its weights are
    already 4-bit (or fp8), so fp16 or a load-time quantization of them is refused.
    """
    fmt = weight_format(requested)
    have = arch.quantization
    if fmt.prequantized is not None:
        if have is None or have.method != fmt.prequantized:
            found = f" (it has quant_method {have.method})" if have else ""
            raise LlmSizingError(
                f"{arch.source}: {fmt.name} needs pre-quantized weights: config.json has no "
                f"quantization_config with quant_method {fmt.prequantized}{found}"
            )
        return fmt
    if have is not None:
        own = _PREQUANTIZED_TO_FORMAT.get(have.method)
        if have.method == "bitsandbytes":
            own = "nf4" if have.bits == 4 else "int8"
        if own is None:
            raise LlmSizingError(
                f"{arch.source}: quantization_config quant_method {have.method!r} is not sized here "
                f"(known: awq, gptq, fp8, bitsandbytes)"
            )
        if own != fmt.name:
            raise LlmSizingError(
                f"{arch.source}: the checkpoint is pre-quantized ({have.describe()}): its weights are "
                f"stored that way and cannot be loaded as {fmt.name}; request {own}"
            )
    return fmt


def _linear_bytes(fmt: WeightFormat, arch: ModelArchitecture) -> float:
    quant = arch.quantization
    if fmt.prequantized is not None and quant is not None:
        bits = quant.bits if quant.bits is not None else 4
        group = quant.group_size if quant.group_size is not None else 128
        return grouped_int_bytes(bits, group)
    return fmt.linear_bytes


def weights_bytes(arch: ModelArchitecture, dtype_or_quantization: str) -> int:
    """Bytes of the weights on the GPUs: linear weights at the format's bytes, the rest (embeddings,
    lm_head, norms, biases) at 2 bytes (4 for fp32). Checks the request with ``check_quantization``."""
    fmt = check_quantization(arch, dtype_or_quantization)
    other_bytes = 4 if fmt.name == "fp32" else 2
    linear = arch.linear_weight_count() * _linear_bytes(fmt, arch)
    return math.ceil(linear) + arch._other_parameter_count() * other_bytes


def kv_cache_bytes(arch: ModelArchitecture, *, tokens: int, sequences: int, kv_bytes: int = 2) -> int:
    """2 (K and V) x kv_bytes x layers x KV heads x head_dim x tokens x sequences."""
    return arch.kv_cache_bytes_per_token(kv_bytes) * tokens * sequences


def activation_bytes(arch: ModelArchitecture, *, max_total_tokens: int, concurrent_sequences: int) -> int:
    """Activation allowance of one prefill pass of ``min(tokens x sequences, PREFILL_CHUNK_TOKENS)``
    tokens at 2 bytes: the residual stream, q/k/v/o outputs (4 x hidden_size) and the gated MLP's two
    intermediate tensors (2 x intermediate_size) per token, plus fp32 logits over the vocabulary for
    each sequence. Not sharded by tp (conservative). An allowance for ranking instances; vLLM
    measures its own peak with a profiling run at start-up."""
    chunk = min(max_total_tokens * concurrent_sequences, PREFILL_CHUNK_TOKENS)
    per_token = (4 * arch.hidden_size + 2 * arch.intermediate_size) * 2
    logits = concurrent_sequences * arch.vocab_size * 4
    return chunk * per_token + logits


@dataclass(frozen=True)
class LlmMemory:
    """GPU memory to serve ``architecture`` as ``weight_format`` with ``concurrent_sequences``
    sequences of up to ``max_total_tokens`` tokens each (prompt + output) in the KV cache.

    ``weights_bytes`` and ``kv_cache_bytes`` are for the whole model (split over tp GPUs);
    ``overhead_bytes_per_gpu`` = ``RUNTIME_RESERVE_BYTES_PER_GPU`` + ``activation_bytes`` and is
    paid on every GPU.
    """

    architecture: ModelArchitecture
    weight_format: str
    weights_bytes: int
    kv_cache_dtype: str
    kv_cache_bytes: int
    max_total_tokens: int
    concurrent_sequences: int
    overhead_bytes_per_gpu: int

    @classmethod
    def estimate(
        cls,
        arch: ModelArchitecture,
        *,
        dtype_or_quantization: str,
        max_total_tokens: int,
        concurrent_sequences: int,
        kv_cache_dtype: str = "auto",
    ) -> LlmMemory:
        """Size ``arch``. ``dtype_or_quantization``: a key of ``WEIGHT_FORMATS`` (fp32, fp16, bf16,
        fp8, int8, eetq, nf4, awq, gptq) or an alias; ``max_total_tokens`` >= 1 and at most the
        config's max_position_embeddings; ``concurrent_sequences`` >= 1; ``kv_cache_dtype`` auto,
        fp16, bf16, fp32 or fp8."""
        for name, value in (
            ("max_total_tokens", max_total_tokens),
            ("concurrent_sequences", concurrent_sequences),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LlmSizingError(f"{name} {value!r} must be a positive integer")
        limit = arch.max_position_embeddings
        if limit is not None and max_total_tokens > limit:
            raise LlmSizingError(
                f"{arch.source}: max_total_tokens {max_total_tokens} is above the model's "
                f"max_position_embeddings {limit}"
            )
        fmt = check_quantization(arch, dtype_or_quantization)
        if kv_cache_dtype == "auto":
            kv_cache_dtype = "fp32" if fmt.name == "fp32" else "fp16"
        if kv_cache_dtype not in KV_CACHE_BYTES:
            raise LlmSizingError(
                f"kv_cache_dtype {kv_cache_dtype!r}: allowed: auto, {', '.join(KV_CACHE_BYTES)}"
            )
        return cls(
            architecture=arch,
            weight_format=fmt.name,
            weights_bytes=weights_bytes(arch, fmt.name),
            kv_cache_dtype=kv_cache_dtype,
            kv_cache_bytes=kv_cache_bytes(
                arch,
                tokens=max_total_tokens,
                sequences=concurrent_sequences,
                kv_bytes=KV_CACHE_BYTES[kv_cache_dtype],
            ),
            max_total_tokens=max_total_tokens,
            concurrent_sequences=concurrent_sequences,
            overhead_bytes_per_gpu=RUNTIME_RESERVE_BYTES_PER_GPU
            + activation_bytes(
                arch, max_total_tokens=max_total_tokens, concurrent_sequences=concurrent_sequences
            ),
        )

    def per_gpu_bytes(self, tp: int = 1) -> int:
        """weights / tp + KV cache / tp + overhead per GPU (rounded up)."""
        self.check_tensor_parallel(tp)
        return -(-(self.weights_bytes + self.kv_cache_bytes) // tp) + self.overhead_bytes_per_gpu

    def check_tensor_parallel(self, tp: int) -> None:
        """LlmSizingError unless tp >= 1 divides num_attention_heads and num_key_value_heads."""
        arch = self.architecture
        if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
            raise LlmSizingError(f"tensor-parallel degree {tp!r} must be a positive integer")
        for field, heads in (
            ("num_attention_heads", arch.num_attention_heads),
            ("num_key_value_heads", arch.num_key_value_heads),
        ):
            if heads % tp:
                raise LlmSizingError(
                    f"tensor-parallel degree {tp} does not divide {field} {heads} of {arch.source}: "
                    "vLLM and TGI shard whole heads over the GPUs; choose "
                    f"{_divisors(arch.num_attention_heads, arch.num_key_value_heads)}"
                )

    def fits(self, instance: GpuInstance, tp: int) -> bool:
        """Whether the per-GPU need at ``tp`` is at most one GPU's memory x USABLE_GPU_FRACTION.
        LlmSizingError for an instance without NVIDIA GPUs, tp above its GPU count, or a tp that does
        not divide the head counts."""
        if not instance.has_gpu or instance.gpus < 1:
            raise LlmSizingError(
                f"{instance.name} has no NVIDIA GPU: this sizing is for CUDA servers (vLLM, TGI); "
                "Inferentia/Trainium (Neuron) and CPU instances are sized elsewhere"
            )
        if isinstance(tp, int) and tp > instance.gpus:
            raise LlmSizingError(
                f"tensor-parallel degree {tp} is above the {instance.gpus} GPU(s) of {instance.name}"
            )
        return self.per_gpu_bytes(tp) <= usable_bytes_per_gpu(instance)

    def describe(self, tp: int = 1) -> str:
        """One line: the arithmetic in GiB."""
        arch = self.architecture
        kv = (
            f"KV cache {_gib(self.kv_cache_bytes)} ({self.max_total_tokens} tokens x "
            f"{self.concurrent_sequences} sequences, {self.kv_cache_dtype})"
        )
        return (
            f"{Path(arch.source).name} ({arch.model_type}, {self.weight_format}) at tp {tp}: "
            f"(weights {_gib(self.weights_bytes)} + {kv}) / {tp} + overhead "
            f"{_gib(self.overhead_bytes_per_gpu)} = {_gib(self.per_gpu_bytes(tp))} per GPU"
        )


def usable_bytes_per_gpu(instance: GpuInstance) -> float:
    """One GPU's memory (the instance's total / its GPU count) x USABLE_GPU_FRACTION."""
    return instance.gpu_memory_gib * GIB / instance.gpus * USABLE_GPU_FRACTION


def _gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def _divisors(*counts: int) -> str:
    common = [d for d in range(1, min(counts) + 1) if all(c % d == 0 for c in counts)]
    return "one of " + ", ".join(str(d) for d in common)


def _catalog_price(name: str, region: str) -> float | None:
    try:
        return hosting_price(name, region).usd_per_hour
    except CatalogError:
        return None


def smallest_fitting_instance(
    arch: ModelArchitecture,
    *,
    dtype_or_quantization: str,
    max_total_tokens: int,
    concurrent_sequences: int,
    region: str,
    instances: Iterable[GpuInstance] | None = None,
    price: Callable[[str, str], float | None] | None = None,
    kv_cache_dtype: str = "auto",
) -> tuple[str, int, LlmMemory] | None:
    """The cheapest NVIDIA GPU instance that holds the model, with its tensor-parallel degree.

    For each NVIDIA instance (``instances``, default the catalog's ``instance_types()``) the smallest
    tp among the powers of two up to its GPU count that divide both head counts and fit is taken.
    Among fitting instances the cheapest on-demand hosting price in ``region`` wins (``price``,
    default ``hosting_price`` of the catalog, None where unknown); when none of them has a price,
    the least total GPU memory, then the name. Returns (instance name, tp, LlmMemory), or None when
    nothing fits.
    """
    memory = LlmMemory.estimate(
        arch,
        dtype_or_quantization=dtype_or_quantization,
        max_total_tokens=max_total_tokens,
        concurrent_sequences=concurrent_sequences,
        kv_cache_dtype=kv_cache_dtype,
    )
    price_of = price or _catalog_price
    fitting: list[tuple[GpuInstance, int]] = []
    for instance in instance_types() if instances is None else instances:
        if not instance.has_gpu or instance.gpus < 1:
            continue
        for tp in _power_of_two_degrees(instance.gpus):
            if arch.num_attention_heads % tp or arch.num_key_value_heads % tp:
                continue
            if memory.fits(instance, tp):
                fitting.append((instance, tp))
                break
    if not fitting:
        return None
    priced = [(p, i, tp) for i, tp in fitting if (p := price_of(i.name, region)) is not None]
    if priced:
        _, best, tp = min(priced, key=lambda item: (item[0], item[1].gpu_memory_gib, item[1].name))
    else:
        best, tp = min(fitting, key=lambda item: (item[0].gpu_memory_gib, item[0].name))
    return best.name, tp, memory


def _power_of_two_degrees(gpus: int) -> list[int]:
    degrees, tp = [], 1
    while tp <= gpus:
        degrees.append(tp)
        tp *= 2
    return degrees
