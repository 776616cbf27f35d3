"""GPU memory sizing of large language models from their config.json (cost_advisor.llm_memory).

The configs under ``llm_configs/`` are real Hugging Face config.json contents, trimmed to the fields
the sizing reads; ``llm_configs/README.md`` names where each came from. Expected numbers are worked
out by hand in each test, not recomputed with the module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from cost_advisor.llm_memory import (
    GIB,
    LlmMemory,
    LlmSizingError,
    ModelArchitecture,
    check_quantization,
    smallest_fitting_instance,
)
from endpoint_configs.instance_catalog import instance_type

CONFIGS = Path(__file__).with_name("llm_configs")
EXAMPLES = Path(__file__).parents[2] / "examples" / "llm"
"""The two configs the shipped LLM environments serve live with the examples."""
LLAMA_3_8B = EXAMPLES / "meta-llama-3-8b-instruct" / "config.json"
MISTRAL_7B = CONFIGS / "mistral-7b-v0.1.json"
QWEN2_7B = CONFIGS / "qwen2-7b-instruct.json"
LLAMA_3_70B = CONFIGS / "meta-llama-3-70b-instruct.json"
LLAMA_3_70B_AWQ = EXAMPLES / "llama-3-70b-instruct-awq" / "config.json"

A10G_USABLE = 0.9 * 24 * GIB  # one A10G of ml.g5.* (24 GiB in the catalog) x vLLM's 0.9


def _arch(path: Path) -> ModelArchitecture:
    return ModelArchitecture.from_file(path)


def _write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


# ---- reading config.json -------------------------------------------------------------------------


def test_llama_3_8b_fields_and_defaults() -> None:
    arch = _arch(LLAMA_3_8B)

    assert (arch.model_type, arch.num_hidden_layers, arch.num_attention_heads) == ("llama", 32, 32)
    assert arch.num_key_value_heads == 8
    assert arch.head_dim == 128  # no head_dim in the file: 4096 // 32
    assert (arch.max_position_embeddings, arch.torch_dtype, arch.quantization) == (8192, "bfloat16", None)


def test_key_value_heads_default_to_the_attention_heads(tmp_path: Path) -> None:
    config = json.loads(LLAMA_3_8B.read_text(encoding="utf-8"))
    del config["num_key_value_heads"]

    assert ModelArchitecture.from_file(_write(tmp_path, config)).num_key_value_heads == 32


def test_awq_config_carries_its_quantization() -> None:
    quantization = _arch(LLAMA_3_70B_AWQ).quantization

    assert quantization is not None
    assert (quantization.method, quantization.bits, quantization.group_size) == ("awq", 4, 128)


def test_missing_field_is_named_with_the_file(tmp_path: Path) -> None:
    # GIVEN a config.json without hidden_size
    config = json.loads(LLAMA_3_8B.read_text(encoding="utf-8"))
    del config["hidden_size"]
    path = _write(tmp_path, config)
    # WHEN it is read THEN the error names the file and the field
    with pytest.raises(LlmSizingError, match=r"config\.json: hidden_size is missing"):
        ModelArchitecture.from_file(path)


@pytest.mark.parametrize("bad", [0, -32, "32", 32.0, True])
def test_field_that_is_not_a_positive_int_is_refused(tmp_path: Path, bad: object) -> None:
    # GIVEN num_hidden_layers that is not a positive integer
    config = json.loads(LLAMA_3_8B.read_text(encoding="utf-8"))
    config["num_hidden_layers"] = bad
    path = _write(tmp_path, config)
    # WHEN it is read THEN the error names the file, the field and the value
    with pytest.raises(
        LlmSizingError, match=r"config\.json: num_hidden_layers .* must be a positive integer"
    ):
        ModelArchitecture.from_file(path)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    # GIVEN a path with no file WHEN read THEN LlmSizingError, not OSError
    with pytest.raises(LlmSizingError, match="cannot read the config"):
        ModelArchitecture.from_file(tmp_path / "absent.json")


# ---- parameter counts ----------------------------------------------------------------------------


def test_llama_3_8b_parameter_count_by_hand() -> None:
    embeddings = 128256 * 4096  # 525,336,576, and the same again for the untied lm_head
    per_layer = (
        2 * 4096 * 4096  # q and o
        + 2 * 4096 * (8 * 128)  # k and v: 8 KV heads of 128
        + 3 * 4096 * 14336  # gate, up, down
        + 2 * 4096  # two RMSNorms
    )  # 218,112,000
    expected = 2 * embeddings + 32 * per_layer + 4096  # + final norm

    assert expected == 8_030_261_248
    assert _arch(LLAMA_3_8B).parameter_count() == 8_030_261_248


def test_qwen2_counts_its_query_key_value_biases() -> None:
    embeddings = 152064 * 3584
    per_layer = (
        2 * 3584 * 3584
        + 2 * 3584 * (4 * 128)
        + 3 * 3584 * 18944
        + 2 * 3584
        + (3584 + 2 * 512)  # q, k, v biases
    )

    assert 2 * embeddings + 28 * per_layer + 3584 == 7_615_616_512
    assert _arch(QWEN2_7B).parameter_count() == 7_615_616_512


@pytest.mark.parametrize(
    ("path", "published"),
    [
        (LLAMA_3_8B, 8.03e9),  # Meta's model card: 8B; safetensors total 8,030,261,248
        (MISTRAL_7B, 7.24e9),  # Mistral AI: 7.3B ("7.24B" on the hub)
        (QWEN2_7B, 7.6e9),  # Qwen2 report: 7.6B (7.07B without embeddings)
        (LLAMA_3_70B, 70.6e9),  # Meta's model card: 70B; safetensors total 70,553,706,496
        (LLAMA_3_70B_AWQ, 70.6e9),  # the same architecture, quantized
    ],
)
def test_parameter_counts_within_one_percent_of_published_totals(path: Path, published: float) -> None:
    assert _arch(path).parameter_count() == pytest.approx(published, rel=0.01)


def test_unknown_model_type_is_refused(tmp_path: Path) -> None:
    # GIVEN a config of another layout (a mixture of experts)
    config = json.loads(MISTRAL_7B.read_text(encoding="utf-8"))
    config["model_type"] = "mixtral"
    arch = ModelArchitecture.from_file(_write(tmp_path, config))
    # WHEN its parameters are counted THEN the error says which layouts are known
    with pytest.raises(LlmSizingError, match="model_type 'mixtral' is not sized here"):
        arch.parameter_count()


# ---- weights, KV cache, per GPU -------------------------------------------------------------------


def test_llama_3_8b_fp16_weights_and_kv_cache() -> None:
    memory = LlmMemory.estimate(
        _arch(LLAMA_3_8B), dtype_or_quantization="fp16", max_total_tokens=4096, concurrent_sequences=4
    )

    assert memory.weights_bytes == 2 * 8_030_261_248 == 16_060_522_496  # ~16.06e9
    assert memory.kv_cache_bytes == 2 * 2 * 32 * 8 * 128 * 4096 * 4 == 2_147_483_648


def test_fp8_kv_cache_halves_it() -> None:
    memory = LlmMemory.estimate(
        _arch(LLAMA_3_8B),
        dtype_or_quantization="fp16",
        max_total_tokens=4096,
        concurrent_sequences=4,
        kv_cache_dtype="fp8",
    )

    assert memory.kv_cache_bytes == 2 * 1 * 32 * 8 * 128 * 4096 * 4 == 1_073_741_824


def test_llama_3_8b_fp16_fits_one_a10g() -> None:
    memory = LlmMemory.estimate(
        _arch(LLAMA_3_8B), dtype_or_quantization="fp16", max_total_tokens=4096, concurrent_sequences=4
    )
    activations = 4096 * (4 * 4096 + 2 * 14336) * 2 + 4 * 128256 * 4  # one 4096-token prefill + logits
    overhead = 3 * GIB // 2 + activations  # 1.5 GiB runtime reserve
    need = 16_060_522_496 + 2_147_483_648 + overhead

    assert need == 20_189_769_728  # 18.80 GiB
    assert memory.per_gpu_bytes(1) == need
    assert need <= A10G_USABLE  # 21.6 GiB
    assert memory.fits(instance_type("ml.g5.2xlarge"), tp=1)
    assert "= 18.80 GiB per GPU" in memory.describe(1)


def test_llama_3_70b_fp16_does_not_fit_four_a10g() -> None:
    memory = LlmMemory.estimate(
        _arch(LLAMA_3_70B), dtype_or_quantization="fp16", max_total_tokens=4096, concurrent_sequences=4
    )
    g5_12xlarge = instance_type("ml.g5.12xlarge")

    assert memory.weights_bytes == 2 * 70_553_706_496  # 131.42 GiB: 32.9 GiB per A10G even at tp 4
    assert not any(memory.fits(g5_12xlarge, tp) for tp in (1, 2, 4))


def test_llama_3_70b_fp16_smallest_fitting_instance_in_us_east_1() -> None:
    # 8 GPUs of 24 GiB at tp 8: (141,107,412,992 weights + 5,368,709,120 KV) / 8 = 18,309,515,264
    # + 1.5 GiB + activations 4096 x (4 x 8192 + 2 x 28672) x 2 + 4 x 128256 x 4 = 20,660,377,600
    # (19.24 GiB) <= 21.6 GiB. The priced 8-GPU types in the catalog (us-east-1): ml.g6.48xlarge
    # (L4) $16.688, ml.g5.48xlarge $20.36, ml.p4d.24xlarge $37.688, ml.p5.48xlarge $113.068.
    result = smallest_fitting_instance(
        _arch(LLAMA_3_70B),
        dtype_or_quantization="fp16",
        max_total_tokens=4096,
        concurrent_sequences=4,
        region="us-east-1",
    )

    assert result is not None
    name, tp, memory = result
    assert (name, tp) == ("ml.g6.48xlarge", 8)
    assert memory.per_gpu_bytes(8) == 20_660_377_600


def test_awq_70b_fits_four_a10g_at_tp_4() -> None:
    memory = LlmMemory.estimate(
        _arch(LLAMA_3_70B_AWQ), dtype_or_quantization="awq", max_total_tokens=4096, concurrent_sequences=4
    )
    unquantized = 2 * 128256 * 8192 + 80 * 2 * 8192 + 8192  # embeddings, lm_head, norms: 2,102,665,216
    linear = 70_553_706_496 - unquantized  # 68,451,041,280 weights at 0.5 + 2.5 / 128 bytes
    weights = 34_225_520_640 + 1_336_934_400 + 2 * unquantized  # 4 bits + fp16 scale and int4 zero

    assert linear == 68_451_041_280
    assert memory.weights_bytes == weights == 39_767_785_472  # 37.04 GiB
    need = (39_767_785_472 + 5_368_709_120) // 4 + 3 * GIB // 2 + 740_249_600
    assert memory.per_gpu_bytes(4) == need == 13_634_985_984  # 12.70 GiB <= 21.6 GiB
    assert memory.fits(instance_type("ml.g5.12xlarge"), tp=4)


# ---- refusals ------------------------------------------------------------------------------------


def _llama_8b_memory() -> LlmMemory:
    return LlmMemory.estimate(
        _arch(LLAMA_3_8B), dtype_or_quantization="fp16", max_total_tokens=4096, concurrent_sequences=4
    )


def test_tp_above_the_gpu_count_is_refused() -> None:
    # GIVEN a 4-GPU instance WHEN tp 8 is asked THEN refused with both numbers
    with pytest.raises(
        LlmSizingError, match=r"tensor-parallel degree 8 is above the 4 GPU\(s\) of ml.g5.12xlarge"
    ):
        _llama_8b_memory().fits(instance_type("ml.g5.12xlarge"), tp=8)


def test_tp_that_does_not_divide_the_heads_is_refused() -> None:
    # GIVEN Llama-3-8B (32 heads, 8 KV heads) on 4 GPUs WHEN tp 3 is asked THEN refused
    with pytest.raises(
        LlmSizingError, match="tensor-parallel degree 3 does not divide num_attention_heads 32"
    ):
        _llama_8b_memory().fits(instance_type("ml.g5.12xlarge"), tp=3)


def test_tp_that_divides_the_heads_but_not_the_kv_heads_is_refused() -> None:
    # GIVEN Qwen2-7B (28 heads, 4 KV heads) WHEN tp 7 (divides 28) is asked THEN the KV heads refuse it
    memory = LlmMemory.estimate(
        _arch(QWEN2_7B), dtype_or_quantization="fp16", max_total_tokens=1024, concurrent_sequences=1
    )
    with pytest.raises(
        LlmSizingError, match=r"does not divide num_key_value_heads 4 .* choose one of 1, 2, 4"
    ):
        memory.per_gpu_bytes(7)


@pytest.mark.parametrize("name", ["ml.m5.xlarge", "ml.inf1.xlarge"])
def test_instance_without_nvidia_gpu_is_refused(name: str) -> None:
    # GIVEN a CPU or Inferentia instance WHEN asked whether the model fits THEN refused
    with pytest.raises(LlmSizingError, match=f"{name} has no NVIDIA GPU"):
        _llama_8b_memory().fits(instance_type(name), tp=1)


def test_awq_on_an_fp16_config_is_refused() -> None:
    # GIVEN Llama-3-8B's fp16 config WHEN awq is requested THEN pre-quantized weights are asked for
    with pytest.raises(
        LlmSizingError,
        match=re.escape(
            "awq needs pre-quantized weights: config.json has no quantization_config with quant_method awq"
        ),
    ):
        check_quantization(_arch(LLAMA_3_8B), "awq")


def test_gptq_on_an_awq_config_is_refused() -> None:
    # GIVEN an AWQ checkpoint WHEN gptq is requested THEN the error says which method it has
    with pytest.raises(LlmSizingError, match="quant_method gptq \\(it has quant_method awq\\)"):
        check_quantization(_arch(LLAMA_3_70B_AWQ), "gptq")


@pytest.mark.parametrize("requested", ["fp16", "bf16", "int8", "nf4"])
def test_pre_quantized_model_cannot_be_loaded_another_way(requested: str) -> None:
    # GIVEN an AWQ 4-bit checkpoint WHEN sized as fp16 (or quantized again at load) THEN refused
    with pytest.raises(
        LlmSizingError, match=f"pre-quantized \\(awq 4-bit, group 128\\).* as {requested}; request awq"
    ):
        LlmMemory.estimate(
            _arch(LLAMA_3_70B_AWQ),
            dtype_or_quantization=requested,
            max_total_tokens=2048,
            concurrent_sequences=1,
        )


def test_unknown_format_is_refused_with_the_choices() -> None:
    with pytest.raises(LlmSizingError, match="dtype_or_quantization 'int3': allowed: fp32, fp16"):
        check_quantization(_arch(LLAMA_3_8B), "int3")


def test_context_above_max_position_embeddings_is_refused() -> None:
    # GIVEN Llama-3-8B (8192 positions) WHEN 16384 tokens are asked THEN refused
    with pytest.raises(
        LlmSizingError, match="max_total_tokens 16384 is above the model's max_position_embeddings 8192"
    ):
        LlmMemory.estimate(
            _arch(LLAMA_3_8B), dtype_or_quantization="fp16", max_total_tokens=16384, concurrent_sequences=1
        )


# ---- choosing among instances passed by the caller -----------------------------------------------


@dataclass(frozen=True)
class _Gpu:
    name: str
    gpus: int
    gpu_memory_gib: float
    has_gpu: bool = True


SMALL_FLEET = (
    _Gpu("ml.cpu.large", 0, 0, has_gpu=False),
    _Gpu("ml.one.small", 1, 16),
    _Gpu("ml.one.big", 1, 48),
    _Gpu("ml.four.small", 4, 64),
)


def test_cheapest_priced_fitting_instance_wins() -> None:
    # Llama-3-8B fp16 needs 18.80 GiB on one GPU: not on 16 GiB (14.4 usable), yes on 48 GiB
    # (43.2 usable) and, at tp 2, on two of four 16 GiB GPUs: 18,208,006,144 / 2 + 1,981,763,584
    # = 11,085,766,656 (10.32 GiB). Priced: one.big $2, four.small $1.5.
    prices = {"ml.one.big": 2.0, "ml.four.small": 1.5}
    result = smallest_fitting_instance(
        _arch(LLAMA_3_8B),
        dtype_or_quantization="fp16",
        max_total_tokens=4096,
        concurrent_sequences=4,
        region="eu-west-1",
        instances=SMALL_FLEET,
        price=lambda name, region: prices.get(name),
    )

    assert result is not None
    assert result[:2] == ("ml.four.small", 2)
    assert result[2].per_gpu_bytes(2) == 11_085_766_656


def test_without_prices_the_least_gpu_memory_wins() -> None:
    result = smallest_fitting_instance(
        _arch(LLAMA_3_8B),
        dtype_or_quantization="fp16",
        max_total_tokens=4096,
        concurrent_sequences=4,
        region="eu-west-1",
        instances=SMALL_FLEET,
        price=lambda name, region: None,
    )

    assert result is not None
    assert result[:2] == ("ml.one.big", 1)  # 48 GiB in total against four.small's 64


def test_nothing_fits_gives_none() -> None:
    result = smallest_fitting_instance(
        _arch(LLAMA_3_70B),
        dtype_or_quantization="fp16",
        max_total_tokens=4096,
        concurrent_sequences=4,
        region="us-east-1",
        instances=SMALL_FLEET,
    )

    assert result is None
