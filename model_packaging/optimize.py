"""Shrink a sentence-transformers model for CPU serving: ONNX export, optional int8, accuracy gate.

:func:`optimize_model` writes a model folder that ``build_artifact`` packages like any other:

- ``model.onnx``: Transformer -> pooling (mean or cls, as the model's pooling config says) -> L2
  normalization in one graph, inputs ``input_ids`` and ``attention_mask`` (int64, dynamic batch and
  sequence), output ``sentence_embedding``; the handler only tokenizes and runs it. No
  ``token_type_ids`` input: a single sentence has all-zero segment ids, which is what BERT-like
  models use when the input is absent. ``onnx-int8`` quantizes the weights with ONNX Runtime's
  dynamic quantization (int8, per channel; activations are quantized per run), ``onnx-fp32`` keeps
  the export as it is.
- the tokenizer and config files (never the torch weights) and ``onnx_model.json``: how to run the
  graph (inputs, output, max_seq_length, lower-casing, batch size), the accuracy report and the
  versions that built it.

The accuracy gate compares the optimized model with the original (sentence-transformers on CPU) on
probe sentences and refuses the folder when the mean or the worst cosine similarity is under the
thresholds (:class:`AccuracyGateError`). Dynamic quantization computes one activation scale per
tensor, so in a padded batch a sentence's vector depends on its batch-mates (cosine down to 0.96
measured); an int8 model therefore runs one sentence at a time (``batch_size`` 1 in
``onnx_model.json``), which the gate measures and the handler does too.

Export: ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript), the exporter torch 2.13
recommends (the TorchScript one is deprecated and bakes Python conditions of the attention mask
code into the graph). The exporter records stack traces with this machine's paths in node
metadata; they are stripped, so the file is byte-reproducible for the same weights and versions.
Export, quantization and measurement run in one fresh Python process: torch stays out of the
caller (synth), and its memory goes when the process ends.

Cached three ways: the exported (and quantized) graph by model contents, method and versions
(``.onnx-cache/``, so changing only the probes or thresholds does not export again), the measured
accuracy by probe file contents beside it, and the finished folder, named by a hash of all inputs.
:func:`build_optimized_cached` adds the artifact cache of ``build_artifact_cached``: a hit reads a
directory listing and the probe file, and imports nothing of torch or onnx.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_packaging.build import (
    BUILD_VERSION,
    GZIP_LEVEL,
    BuiltArtifact,
    _output_errors,
    build_artifact,
    cache_key,
    cached_build,
)
from model_packaging.errors import PackagingError
from model_packaging.manifest import ModelFacts
from model_packaging.model_process import run_model_process
from model_packaging.neo import SentenceModel, read_sentence_model
from model_packaging.sources import DEFAULT_EXCLUDED, SKIPPED_NAMES, collect_sources
from model_packaging.wheels import VendoredDependencies

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

OPTIMIZATION_METHODS: tuple[str, ...] = ("onnx-int8", "onnx-fp32")
OPTIMIZE_VERSION = 2
"""Part of every cache key: bump when the export, the quantization or the folder layout changes."""
ONNX_FILE = "model.onnx"
METADATA_FILE = "onnx_model.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "sentence_embedding"
OPSET = 20
ENCODE_BATCH_SIZE = 32
"""Sentences per run of an fp32 graph; an int8 graph runs one at a time (see the module docstring)."""
EXPORT_TOLERANCE = 1e-4
"""Largest difference allowed between the exported graph's and the torch module's embeddings."""
EXPORT_TIMEOUT_SECONDS = 1800
COPIED_FILES = (
    "config.json",
    "sentence_bert_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
"""Files of the transformer's folder the optimized folder keeps (those that exist)."""
ROOT_FILES = ("modules.json", "config_sentence_transformers.json")
CACHE_FOLDER = ".onnx-cache"
VERSIONED_DISTRIBUTIONS = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")
"""Their versions are part of the cache keys (read from package metadata, without importing them)."""
_ONNX_DTYPES = {1: "F32", 2: "U8", 3: "I8", 6: "I32", 7: "I64", 9: "BOOL", 10: "F16", 11: "F64", 16: "BF16"}
"""onnx.TensorProto data types -> the names the manifest uses (safetensors')."""


# --- thresholds, probes, reports ------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyThresholds:
    """The least cosine similarity to the original embeddings the gate accepts: over all probes on
    average (``mean``) and for the worst probe (``minimum``); both in (0, 1]."""

    mean: float = 0.99
    minimum: float = 0.95

    def __post_init__(self) -> None:
        for name in ("mean", "minimum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise PackagingError(
                    f"accuracy threshold {name} is {value!r}; give a cosine similarity in (0, 1], "
                    "e.g. mean 0.99 and minimum 0.95"
                )


@dataclass(frozen=True)
class AccuracyReport:
    """Cosine similarity of the optimized to the original embeddings over the probe sentences."""

    method: str
    probes: int
    probe_file: str
    mean_cosine: float
    min_cosine: float
    worst_probe: str
    thresholds: AccuracyThresholds

    @property
    def passed(self) -> bool:
        return self.mean_cosine >= self.thresholds.mean and self.min_cosine >= self.thresholds.minimum

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "probes": self.probes,
            "probe_file": self.probe_file,
            "mean_cosine": self.mean_cosine,
            "min_cosine": self.min_cosine,
            "worst_probe": self.worst_probe,
            "thresholds": {"mean": self.thresholds.mean, "minimum": self.thresholds.minimum},
            "passed": self.passed,
        }


class AccuracyGateError(PackagingError):
    """The optimized model answers too differently from the original; ``.report`` has the numbers."""

    def __init__(self, report: AccuracyReport) -> None:
        self.report = report
        t = report.thresholds
        worst = report.worst_probe if len(report.worst_probe) <= 80 else report.worst_probe[:77] + "..."
        super().__init__(
            f"accuracy gate failed for {report.method}: on the {report.probes} probe sentences of "
            f"{report.probe_file} the optimized model's embeddings have a mean cosine similarity of "
            f"{report.mean_cosine:.4f} to the original model's (needs >= {t.mean}) and a minimum of "
            f"{report.min_cosine:.4f} (needs >= {t.minimum}); the worst probe is {worst!r}. Nothing "
            "was built. Use method onnx-fp32 (no quantization), or lower the thresholds consciously "
            "if this accuracy is good enough for the workload."
        )


def read_probes(path: Path) -> list[str]:
    """The probe sentences of ``path``: one per line, blank lines and ``#`` comments skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackagingError(f"probe file {path} does not exist: give one probe sentence per line") from None
    except IsADirectoryError:
        raise PackagingError(f"probe file {path} is a folder, not a file of probe sentences") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else f"not UTF-8 text ({error.reason})"
        raise PackagingError(f"probe file {path} is not readable: {reason}") from None
    probes = [line.strip() for line in text.splitlines()]
    probes = [line for line in probes if line and not line.startswith("#")]
    if not probes:
        raise PackagingError(f"probe file {path} is empty: give at least one probe sentence per line")
    return probes


# --- export and quantization (torch / onnxruntime, imported here only) ------------------------------


def export_onnx(model_dir: Path, onnx_path: Path) -> None:
    """Export the sentence-transformers model in ``model_dir`` (Transformer -> pooling ->
    normalization) to an fp32 ONNX file, checked against the torch module; ``PackagingError``
    "cannot export <model_dir> to ONNX: <reason>" (one line) when it cannot."""
    model_dir, onnx_path = Path(model_dir), Path(onnx_path)
    model = _sentence_model(model_dir)
    try:
        _export(model, onnx_path)
    except PackagingError:
        raise
    except Exception as error:  # whatever loading or exporting raised: one line for the user
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise PackagingError(
            f"cannot export {model_dir} to ONNX: {type(error).__name__}: {first_line}"
        ) from None


def _export(model: SentenceModel, onnx_path: Path) -> None:
    import warnings

    import onnx
    import onnxruntime  # type: ignore[import-untyped]
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    transformer = AutoModel.from_pretrained(
        str(model.transformer_dir),
        attn_implementation="eager",  # measured faster in onnxruntime than the graph of SDPA, once quantized
        dtype=torch.float32,
        local_files_only=True,
    ).eval()
    module = _embedding_module(torch, transformer, pooling=model.pooling).eval()
    vocabulary = int(transformer.config.vocab_size)
    first, second = _example_batch(torch, 2, 16, vocabulary), _example_batch(torch, 3, 9, vocabulary)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            first,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in INPUT_NAMES},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
            verbose=False,
        )
        expected = module(*second).numpy()
    proto = program.model_proto
    _strip_metadata(proto)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(onnx_path))
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (exported,) = session.run(
        [OUTPUT_NAME], {name: t.numpy() for name, t in zip(INPUT_NAMES, second, strict=True)}
    )
    difference = float(abs(exported - expected).max())
    if not difference <= EXPORT_TOLERANCE:  # also catches NaN
        raise PackagingError(
            f"cannot export {model.model_dir} to ONNX: the exported graph differs from the torch "
            f"module by {difference:.2g} (more than {EXPORT_TOLERANCE})"
        )


def _embedding_module(torch: Any, transformer: Any, *, pooling: str) -> Any:
    """Transformer -> pooling -> L2 normalization, as sentence-transformers computes them (always
    normalized: the handler answers normalized vectors whether or not the model has a Normalize)."""

    class SentenceEmbedding(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]
            if pooling == "cls":
                pooled = tokens[:, 0]  # right padding: the first token is CLS
            else:
                mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding()


def _example_batch(torch: Any, batch: int, sequence: int, vocabulary: int) -> tuple[Any, Any]:
    """Fixed pseudo-random token ids, right-padded: the first row full, the others shorter."""
    generator = torch.Generator().manual_seed(batch * 1000 + sequence)
    lengths = torch.linspace(sequence, max(1, sequence // 3), batch).round().long()
    mask = (torch.arange(sequence).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = torch.randint(1000, vocabulary, (batch, sequence), generator=generator) * mask
    return ids, mask


def _strip_metadata(proto: Any) -> None:
    """Drop the exporter's records of where each node came from (stack traces with this machine's
    paths, FX node text) from the graph, its subgraphs and its functions."""

    def strip_graph(graph: Any) -> None:
        for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
            del value.metadata_props[:]
        del graph.metadata_props[:]
        graph.doc_string = ""
        strip_nodes(graph.node)

    def strip_nodes(nodes: Any) -> None:
        for node in nodes:
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    strip_graph(attribute.g)
                for subgraph in attribute.graphs:
                    strip_graph(subgraph)

    strip_graph(proto.graph)
    for function in proto.functions:
        del function.metadata_props[:]
        function.doc_string = ""
        strip_nodes(function.node)


def quantize_onnx_int8(fp32_path: Path, int8_path: Path) -> None:
    """ONNX Runtime dynamic quantization of the weights to int8, per channel (activations are
    quantized at run time). ``quant_pre_process`` was measured to change neither size nor
    accuracy of these exports (its symbolic shape inference fails on them) and is not run."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs its advice to pre-process as a warning
    try:
        quantize_dynamic(Path(fp32_path), Path(int8_path), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


# --- serving and measuring (onnxruntime + tokenizers) ------------------------------------------------


class OnnxSentenceEncoder:
    """An optimized folder's graph and tokenizer with an ``encode`` like sentence-transformers':
    truncation at the model's max_seq_length, padding to the longest sentence of a run, lower-casing
    when the model says so, ``onnx_model.json``'s batch size (32 without one)."""

    def __init__(self, model_dir: Path, *, onnx_file: str = ONNX_FILE, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        settings = _serving_settings(model_dir)
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(model_dir / onnx_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.output_name: str = settings["output"]
        self.batch_size: int = settings["batch_size"]
        self.lower_case: bool = settings["do_lower_case"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / settings["tokenizer_file"]))
        padding = self.tokenizer.padding or {}
        pad_token = padding.get("pad_token") or "[PAD]"
        pad_id = self.tokenizer.token_to_id(pad_token)
        self.tokenizer.enable_truncation(max_length=settings["max_seq_length"])
        # No length: tokenizer.json may carry a fixed padding length (all-MiniLM-L6-v2's says 128).
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)

    def encode(self, sentences: list[str]) -> NDArray[numpy.float32]:
        """float32 embeddings, L2-normalized, one row per sentence."""
        import numpy as np

        texts = [s.lower() if self.lower_case else s for s in sentences]
        rows = []
        for start in range(0, len(texts), self.batch_size):
            encodings = self.tokenizer.encode_batch(texts[start : start + self.batch_size])
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}
            (output,) = self.session.run([self.output_name], feed)
            rows.append(np.asarray(output, dtype=np.float32))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.concatenate(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalized: NDArray[numpy.float32] = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalized


def _serving_settings(model_dir: Path) -> dict[str, Any]:
    """How to run the folder's graph: from ``onnx_model.json``, else from the sentence-transformers files."""
    metadata_path = model_dir / METADATA_FILE
    if metadata_path.is_file():
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        return {
            "tokenizer_file": metadata.get("tokenizer_file", "tokenizer.json"),
            "max_seq_length": int(metadata["max_seq_length"]),
            "do_lower_case": bool(metadata.get("do_lower_case", False)),
            "batch_size": int(metadata.get("batch_size", ENCODE_BATCH_SIZE)),
            "output": metadata.get("output", OUTPUT_NAME),
        }
    model = _sentence_model(model_dir)
    return {
        "tokenizer_file": _prefixed(model, "tokenizer.json"),
        "max_seq_length": _max_seq_length(model),
        "do_lower_case": model.do_lower_case,
        "batch_size": ENCODE_BATCH_SIZE,
        "output": OUTPUT_NAME,
    }


def accuracy_report(
    original_model_dir: Path,
    optimized_dir: Path,
    *,
    method: str,
    probe_file: Path,
    thresholds: AccuracyThresholds,
) -> AccuracyReport:
    """Cosine similarity per probe between the original model (sentence-transformers on CPU) and
    the optimized folder (:class:`OnnxSentenceEncoder`)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    probes = read_probes(probe_file)
    original = SentenceTransformer(str(original_model_dir), device="cpu", local_files_only=True)
    # Small batches: padding a batch to its longest probe (256 tokens here) cost 4x the time at 32,
    # for the same vectors (within 3e-7).
    expected = original.encode(probes, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    optimized = OnnxSentenceEncoder(Path(optimized_dir)).encode(probes)
    cosines = np.sum(np.asarray(expected, dtype=np.float64) * optimized.astype(np.float64), axis=1)
    worst = int(np.argmin(cosines))
    return AccuracyReport(
        method=method,
        probes=len(probes),
        probe_file=str(probe_file),
        mean_cosine=float(np.mean(cosines)),
        min_cosine=float(cosines[worst]),
        worst_probe=probes[worst],
        thresholds=thresholds,
    )


# --- the optimized folder ----------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizedModel:
    """A finished optimized model folder and the accuracy report that let it through."""

    model_dir: Path
    report: AccuracyReport


def optimize_model(
    model_dir: Path,
    out_dir: Path,
    *,
    method: str,
    probe_file: Path,
    thresholds: AccuracyThresholds = AccuracyThresholds(),
) -> OptimizedModel:
    """Write ``out_dir/<method>-<hash>/`` (see the module docstring), or return it when the same
    inputs were optimized before; ``AccuracyGateError`` when the gate refuses it, leaving no folder."""
    _check_method(method)
    probes = read_probes(probe_file)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model = _sentence_model(model_dir)
    export_key = _export_key(model_dir, method)
    probes_key = _digest(*probes)
    final = out_dir / f"{method}-{_digest(export_key, probes_key, repr(thresholds))[:16]}"
    cache = out_dir / CACHE_FOLDER / f"{method}-{export_key[:16]}"
    with _output_errors(out_dir):
        cache.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache.with_name(cache.name + ".lock")):
        if (final / METADATA_FILE).is_file():
            metadata = json.loads((final / METADATA_FILE).read_text(encoding="utf-8"))
            return OptimizedModel(final, _report(metadata["accuracy"], method, probe_file, thresholds))
        with _output_errors(out_dir):
            staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
        try:
            with _output_errors(out_dir):
                metadata = _stage(model, method, staging)
            measured_path = cache / f"accuracy-{probes_key[:16]}.json"
            if not (cache / ONNX_FILE).is_file() or not measured_path.is_file():
                _run_in_subprocess(model_dir, method, cache, staging, probe_file, measured_path)
            export = json.loads((cache / "export.json").read_text(encoding="utf-8"))
            measured = json.loads(measured_path.read_text(encoding="utf-8"))
            report = _report(measured, method, probe_file, thresholds)
            if not report.passed:
                raise AccuracyGateError(report)
            # The probe file's name and the probes' digest, not its path: the same bytes elsewhere.
            accuracy = {**report.to_dict(), "probe_file": Path(probe_file).name, "probes_sha256": probes_key}
            metadata.update(export, accuracy=accuracy)
            with _output_errors(out_dir):
                _link(cache / ONNX_FILE, staging / ONNX_FILE)
                _write_json(staging / METADATA_FILE, metadata)
                os.chmod(staging, 0o755 & ~_umask())
                staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with suppress(OSError):
                cache.rmdir()  # only when empty: nothing was exported
    return OptimizedModel(final, report)


def _check_method(method: str) -> None:
    if method not in OPTIMIZATION_METHODS:
        raise PackagingError(
            f"optimization method {method!r} is not known; give one of {', '.join(OPTIMIZATION_METHODS)}"
        )


def _sentence_model(model_dir: Path) -> SentenceModel:
    """``read_sentence_model`` (the Neo input's reader, which says "cannot trace") in export words."""
    try:
        return read_sentence_model(model_dir)
    except PackagingError as error:
        traced = f"cannot trace {model_dir}: "
        message = str(error)
        if message.startswith(traced):
            message = f"cannot export {model_dir} to ONNX: {message.removeprefix(traced)}"
        raise PackagingError(message) from None


def _prefixed(model: SentenceModel, name: str) -> str:
    return f"{model.transformer_path}/{name}" if model.transformer_path else name


def _max_seq_length(model: SentenceModel) -> int:
    return model.max_seq_length or model.max_position_embeddings or 512


def _stage(model: SentenceModel, method: str, staging: Path) -> dict[str, Any]:
    """Copy the tokenizer and config files into ``staging`` and write the serving part of
    ``onnx_model.json`` (what :class:`OnnxSentenceEncoder` reads); return that metadata."""
    names = [_prefixed(model, name) for name in COPIED_FILES]
    modules = json.loads((model.model_dir / "modules.json").read_text(encoding="utf-8"))
    pooling = [str(m.get("path", "")) for m in modules if str(m.get("type", "")).endswith(".Pooling")]
    names += [*ROOT_FILES, *(f"{path}/config.json" for path in pooling if path)]
    for name in sorted(set(names)):
        source = model.model_dir / name
        if source.is_file():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    metadata: dict[str, Any] = {
        "format": "onnx",
        "method": method,
        "model_file": ONNX_FILE,
        "inputs": list(INPUT_NAMES),
        "input_dtype": "int64",
        "output": OUTPUT_NAME,
        "pooling": model.pooling,
        "normalize": True,
        "max_seq_length": _max_seq_length(model),
        "do_lower_case": model.do_lower_case,
        "tokenizer_file": _prefixed(model, "tokenizer.json"),
        "batch_size": 1 if method == "onnx-int8" else ENCODE_BATCH_SIZE,
        "quantization": (
            {"kind": "dynamic", "weight_type": "QInt8", "per_channel": True}
            if method == "onnx-int8"
            else None
        ),
        "onnxruntime": _installed_version("onnxruntime"),
    }
    _write_json(staging / METADATA_FILE, metadata)
    return metadata


def _report(
    measured: dict[str, Any], method: str, probe_file: Path, thresholds: AccuracyThresholds
) -> AccuracyReport:
    return AccuracyReport(
        method=method,
        probes=int(measured["probes"]),
        probe_file=str(probe_file),
        mean_cosine=float(measured["mean_cosine"]),
        min_cosine=float(measured["min_cosine"]),
        worst_probe=str(measured["worst_probe"]),
        thresholds=thresholds,
    )


def _export_key(model_dir: Path, method: str) -> str:
    """sha256 over the method, the versions that export and quantize, and every model file's
    relative path, size and contents (documentation and version-control files left out)."""
    versions = [f"{name}={_installed_version(name)}" for name in VERSIONED_DISTRIBUTIONS]
    parts = ["onnx", str(OPTIMIZE_VERSION), str(OPSET), method, *versions]
    for path in _model_files(model_dir):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1024**2):
                digest.update(chunk)
        parts.append(f"{path.relative_to(model_dir).as_posix()}\0{path.stat().st_size}\0{digest.hexdigest()}")
    return _digest(*parts)


def _model_files(model_dir: Path) -> list[Path]:
    found = []
    for directory, folders, names in os.walk(model_dir):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_NAMES)
        for name in sorted(names):
            if name in SKIPPED_NAMES or any(fnmatch.fnmatch(name, p) for p in DEFAULT_EXCLUDED):
                continue
            found.append(Path(directory) / name)
    return found


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (the same file system), else copy it."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_atomically(path: Path, text: str) -> None:
    descriptor, partial = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, 0o644 & ~_umask())
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path``: parallel builds of the same model and method
    (parallel synths, test workers) wait for one another and then find the result cached."""
    with _output_errors(lock_path.parent), lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the artifact --------------------------------------------------------------------------------


def build_optimized_cached(
    model_dir: Path,
    code_dir: Path,
    out_dir: Path,
    *,
    method: str,
    probe_file: Path,
    thresholds: AccuracyThresholds = AccuracyThresholds(),
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
    vendored: VendoredDependencies | None = None,
) -> BuiltArtifact:
    """The optimized model (kept in ``out_dir/.optimized/``) packaged with ``code_dir`` as
    ``tar.gz`` by ``build_artifact`` (``excluded``, ``requirements`` and ``vendored`` as there), the
    accuracy report in its manifest's ``optimization``; skipped when the same model and code files,
    method, thresholds, probes and versions were built before."""
    _check_method(method)
    probes = read_probes(probe_file)
    sources = collect_sources(model_dir, code_dir, excluded=excluded, requirements=requirements)
    versions = [_installed_version(name) for name in VERSIONED_DISTRIBUTIONS]
    header = "\0".join(
        [
            "onnx", str(OPTIMIZE_VERSION), str(BUILD_VERSION), str(GZIP_LEVEL), method,
            repr(thresholds.mean), repr(thresholds.minimum), _digest(*probes), *versions,
        ]
    )  # fmt: skip
    out_dir = Path(out_dir)

    def build() -> BuiltArtifact:
        optimized = optimize_model(
            model_dir, out_dir / ".optimized", method=method, probe_file=probe_file, thresholds=thresholds
        )
        built = build_artifact(
            optimized.model_dir,
            code_dir,
            out_dir,
            artifact_format="tar.gz",
            show_progress=False,
            excluded=excluded,
            requirements=requirements,
            model_facts=_model_facts(optimized.model_dir),
            vendored=vendored,
            optimization=optimized.report.to_dict(),
        )
        return built

    keyed = sources if vendored is None else vendored.sources(sources)
    return cached_build(out_dir, cache_key(header, keyed), build)


def _model_facts(optimized_dir: Path) -> ModelFacts:
    """Parameters per dtype of the graph's weights (from ``onnx_model.json``) and its size."""
    metadata = json.loads((Path(optimized_dir) / METADATA_FILE).read_text(encoding="utf-8"))
    dtypes: dict[str, int] = metadata.get("weights", {})
    return ModelFacts(
        parameter_count=sum(dtypes.values()) if dtypes else None,
        dtypes=dtypes,
        weights_bytes=(Path(optimized_dir) / metadata.get("model_file", ONNX_FILE)).stat().st_size,
        runtime="onnxruntime",
    )


# --- the exporting and measuring process -----------------------------------------------------------


def _run_in_subprocess(
    model_dir: Path, method: str, cache: Path, staging: Path, probe_file: Path, measured_path: Path
) -> None:
    """Run this module as a fresh process that exports into ``cache`` (unless it holds the graph)
    and measures ``staging`` against ``model_dir``, writing ``measured_path``."""
    result_path = staging.parent / f"{staging.name}.result.json"
    arguments = [
        "--model-dir", str(model_dir), "--method", method, "--cache", str(cache),
        "--staging", str(staging), "--probe-file", str(probe_file), "--measured", str(measured_path),
        "--result", str(result_path),
    ]  # fmt: skip
    failing = f"cannot export {model_dir} to ONNX"
    outcome = run_model_process(
        "model_packaging.optimize",
        arguments,
        result_path=result_path,
        timeout_seconds=EXPORT_TIMEOUT_SECONDS,
        failing=failing,
    )
    if "error" in outcome.result:
        raise PackagingError(outcome.result["error"])
    if outcome.returncode != 0 or "done" not in outcome.result:
        raise outcome.exit_error(failing, "exporting")


def _optimize_command(argv: Sequence[str]) -> int:
    """Entry point of the exporting process: writes ``{"done": timings}`` or ``{"error": message}``."""
    parser = argparse.ArgumentParser(prog="python -m model_packaging.optimize")
    for option in ("--model-dir", "--cache", "--staging", "--probe-file", "--measured", "--result"):
        parser.add_argument(option, type=Path, required=True)
    parser.add_argument("--method", choices=OPTIMIZATION_METHODS, required=True)
    args = parser.parse_args(argv)
    result: dict[str, Any]
    try:
        result = {"done": _export_and_measure(args)}
    except PackagingError as error:
        result = {"error": str(error)}
    except Exception as error:  # a failure of quantizing or measuring: one line for the user
        first_line = (str(error).strip().splitlines() or [""])[0]
        result = {"error": f"cannot optimize {args.model_dir}: {type(error).__name__}: {first_line}"}
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0 if "done" in result else 1


def _export_and_measure(args: argparse.Namespace) -> dict[str, float]:
    """Export (and quantize) into the cache unless it holds the graph, then measure the staged folder."""
    cache: Path = args.cache
    timings: dict[str, float] = {}
    if not (cache / ONNX_FILE).is_file():
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=cache) as work:
            fp32 = Path(work) / "fp32.onnx"
            start = time.perf_counter()
            export_onnx(args.model_dir, fp32)
            timings["export_seconds"] = time.perf_counter() - start
            final = fp32
            if args.method == "onnx-int8":
                final = Path(work) / "int8.onnx"
                start = time.perf_counter()
                quantize_onnx_int8(fp32, final)
                timings["quantize_seconds"] = time.perf_counter() - start
            _write_json(Path(work) / "export.json", _export_facts(final))
            os.chmod(final, 0o644 & ~_umask())
            os.replace(Path(work) / "export.json", cache / "export.json")
            os.replace(final, cache / ONNX_FILE)
    _link(cache / ONNX_FILE, args.staging / ONNX_FILE)
    start = time.perf_counter()
    report = accuracy_report(
        args.model_dir,
        args.staging,
        method=args.method,
        probe_file=args.probe_file,
        thresholds=AccuracyThresholds(),
    )
    timings["measure_seconds"] = time.perf_counter() - start
    measured = {
        "probes": report.probes,
        # Rounded: the last digits vary with the CPU's instructions, the artifact's bytes should not.
        "mean_cosine": round(report.mean_cosine, 6),
        "min_cosine": round(report.min_cosine, 6),
        "worst_probe": report.worst_probe,
    }
    _write_atomically(args.measured, json.dumps(measured, indent=2, ensure_ascii=False) + "\n")
    return timings


def _export_facts(onnx_path: Path) -> dict[str, Any]:
    """What ``onnx_model.json`` says about the graph: weights per dtype, embedding size, versions."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    weights: dict[str, int] = {}
    for tensor in model.graph.initializer:
        name = _ONNX_DTYPES.get(tensor.data_type, str(tensor.data_type))
        weights[name] = weights.get(name, 0) + math.prod(tensor.dims)
    output = model.graph.output[0].type.tensor_type.shape.dim
    return {
        "weights": dict(sorted(weights.items())),
        "embedding_dimension": int(output[-1].dim_value) if output and output[-1].dim_value else None,
        "opset": OPSET,
        "exported_with": {name: _installed_version(name) for name in VERSIONED_DISTRIBUTIONS},
    }


if __name__ == "__main__":
    sys.exit(_optimize_command(sys.argv[1:]))
