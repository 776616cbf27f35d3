"""A Neo-ready input for PyTorch: a sentence-transformers model traced to TorchScript.

SageMaker Neo compiles a PyTorch model from a ``model.tar.gz`` with the TorchScript file
``model.pth`` at its root, told the input shapes (``DataInputConfig``, input name -> shape in the
order of the forward arguments) and, for token ids, ``CompilerOptions {"dtype": "int64"}``.
:func:`build_neo_input_cached` writes that archive, hash-named with its manifest like every artifact:

- ``model.pth``: Transformer -> Pooling (mean or cls) -> optional Normalize as one module whose
  ``forward(input_ids, attention_mask[, token_type_ids])`` takes int64 tensors of the configured
  ``[batch, sequence]`` and returns the sentence embeddings. Neo's newest PyTorch is 2.0, so the
  trace uses eager attention (no SDPA kernel) in float32, refuses an archive format newer than
  torch 2.0 reads, and is checked against the eager module before and after saving.
- the model folder's other files (tokenizer, config, pooling config), never its weights (the trace
  holds them); ``neo_input.json`` (shapes, dtype, pooling, the versions that traced it); ``code/``.

Reproducible: the trace runs in a fresh Python process, because TorchScript names traced classes
with a process-wide counter (a second trace in one process gives other bytes), and the source
location records (``*.debug_pkl``, which hold this machine's paths) are left out, so the bytes
depend on the weights, the shapes and the torch and transformers versions, not on where they are
installed. A tracing process also keeps torch out of the synth process.

Cached like ``build_artifact_cached``: the key covers the input files, the shapes and the installed
torch and transformers versions (from package metadata), so a cache hit neither imports torch nor
traces.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import io
import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from model_packaging.sources import DEFAULT_EXCLUDED, SourceFile, collect_sources
from model_packaging.wheels import VendoredDependencies

FORWARD_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""The traced module's forward arguments, in order; the last is optional."""
REQUIRED_INPUTS = ("input_ids", "attention_mask")
MAX_BATCH = 64
"""Largest traced batch (the example handler's default MAX_BATCH_SIZE)."""
COMPILER_OPTIONS = {"dtype": "int64"}
"""Neo's CompilerOptions for token-id inputs (its PyTorch default is float32)."""
MODEL_FILE = "model.pth"
METADATA_FILE = "neo_input.json"
NEO_TORCH_MAX_FILE_FORMAT = 10
"""Newest TorchScript archive version torch 2.0 loads (kMaxSupportedFileFormatVersion, versions.h)."""
NEO_BUILD_VERSION = 1
"""Part of the cache key: bump when the traced module or the archive layout changes."""
TRACE_TIMEOUT_SECONDS = 1800
TRACE_TOLERANCE = 1e-4
"""Largest difference allowed between the eager and the saved traced module's outputs."""
SUPPORTED_POOLING = ("mean", "cls")
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_SAFETENSORS_DTYPES = {
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64",
    "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}  # fmt: skip
"""torch dtype -> the names the manifest uses (safetensors')."""


class InputShapesError(PackagingError):
    """The input shapes do not fit the model (names, rank, sizes); the message names the value."""


@dataclass(frozen=True)
class SentenceModel:
    """What a sentence-transformers folder says about the modules to trace (read without torch)."""

    model_dir: Path
    transformer_path: str
    """The Transformer module's folder inside ``model_dir`` ("" for the root)."""
    pooling: str
    normalize: bool
    max_seq_length: int | None
    do_lower_case: bool
    max_position_embeddings: int | None

    @property
    def transformer_dir(self) -> Path:
        return self.model_dir / self.transformer_path


def read_sentence_model(model_dir: Path) -> SentenceModel:
    """Read ``modules.json`` (Transformer -> Pooling [-> Normalize]), the pooling config and the
    transformer's config; raise ``PackagingError`` "cannot trace <dir>: <why>" for anything else."""
    model_dir = Path(model_dir)

    def refuse(why: str) -> PackagingError:
        return PackagingError(f"cannot trace {model_dir}: {why}")

    modules = _read_json(
        model_dir / "modules.json", refuse, "no modules.json: not a sentence-transformers model"
    )
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise refuse("modules.json is not a list of modules with a type")
    kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise refuse(f"modules {' -> '.join(kinds)} are not Transformer -> Pooling [-> Normalize]")
    transformer_path, pooling_path = (str(m.get("path", "")) for m in modules[:2])
    pooling = _pooling_mode(_read_json(model_dir / pooling_path / "config.json", refuse, "no pooling config"))
    if pooling not in SUPPORTED_POOLING:
        raise refuse(f"pooling mode {pooling} is not supported; supported: {', '.join(SUPPORTED_POOLING)}")
    transformer_dir = model_dir / transformer_path
    config = _read_json(transformer_dir / "config.json", refuse, f"no config.json in {transformer_dir}")
    if not (transformer_dir / "tokenizer.json").is_file():
        raise refuse(
            f"no tokenizer.json in {transformer_dir}: the handler of the traced model tokenizes with it"
        )
    settings_path = transformer_dir / "sentence_bert_config.json"
    settings = _read_json(settings_path, refuse, "") if settings_path.is_file() else {}
    positions = config.get("max_position_embeddings") if isinstance(config, dict) else None
    max_seq_length = settings.get("max_seq_length") if isinstance(settings, dict) else None
    return SentenceModel(
        model_dir=model_dir,
        transformer_path=transformer_path,
        pooling=pooling,
        normalize=len(kinds) == 3,
        max_seq_length=max_seq_length if isinstance(max_seq_length, int) else None,
        do_lower_case=bool(settings.get("do_lower_case", False)) if isinstance(settings, dict) else False,
        max_position_embeddings=positions if isinstance(positions, int) else None,
    )


def _read_json(path: Path, refuse: Callable[[str], PackagingError], missing: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise refuse(missing) from None
    except (OSError, ValueError) as error:
        raise refuse(f"{path.name} is not readable JSON ({error})") from None


def _pooling_mode(config: Any) -> str:
    if not isinstance(config, dict):
        return "unreadable"
    mode = config.get("pooling_mode")
    if mode is None:
        active = [name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key)]
        mode = active or ["mean"]
    if isinstance(mode, list):
        return str(mode[0]) if len(mode) == 1 else "+".join(map(str, mode))
    return str(mode)


def check_input_shapes(input_shapes: object, *, max_positions: int | None = None) -> dict[str, list[int]]:
    """``input_shapes`` (a mapping of input name -> [batch, sequence]) in forward order, after checking
    names, rank, sizes and that all are equal; ``InputShapesError`` names the bad value and what is
    allowed."""
    allowed = "input_ids and attention_mask (required), token_type_ids (optional)"
    if not isinstance(input_shapes, Mapping) or not input_shapes:
        raise InputShapesError(
            f"input_shapes must be a JSON object of input name -> [batch, sequence] with {allowed}, "
            f'e.g. {{"input_ids": [1, 128], "attention_mask": [1, 128]}}; got {input_shapes!r}'
        )
    for name in input_shapes:
        if name not in FORWARD_INPUTS:
            raise InputShapesError(f"input_shapes names {name!r}, not a model input; allowed: {allowed}")
    missing = [name for name in REQUIRED_INPUTS if name not in input_shapes]
    if missing:
        raise InputShapesError(f"input_shapes lacks {' and '.join(missing)}; give {allowed}")
    shapes: dict[str, list[int]] = {}
    for name in (n for n in FORWARD_INPUTS if n in input_shapes):
        shape = input_shapes[name]
        if (
            not isinstance(shape, Sequence)
            or isinstance(shape, str)
            or len(shape) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise InputShapesError(
                f"input_shapes {name} is {shape!r}; give [batch, sequence], two positive integers"
            )
        shapes[name] = list(shape)
    if len({tuple(shape) for shape in shapes.values()}) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise InputShapesError(
            f"input_shapes differ ({listed}); every input takes the same [batch, sequence]"
        )
    batch, sequence = shapes["input_ids"]
    if batch > MAX_BATCH:
        raise InputShapesError(f"input_shapes batch {batch} is over {MAX_BATCH}; give 1 to {MAX_BATCH}")
    if max_positions is not None and sequence > max_positions:
        raise InputShapesError(
            f"input_shapes sequence {sequence} is over the model's max_position_embeddings "
            f"{max_positions} (config.json); give 1 to {max_positions}"
        )
    return shapes


def parse_input_shapes(text: str) -> dict[str, list[int]]:
    """Shapes from JSON text (the command line); ``InputShapesError`` when it is not JSON."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputShapesError(
            f"input_shapes {text!r} is not JSON ({error.msg} at character {error.pos}); "
            'give e.g. {"input_ids": [1, 128], "attention_mask": [1, 128]}'
        ) from None
    return check_input_shapes(parsed)


def data_input_config(input_shapes: Mapping[str, Sequence[int]]) -> str:
    """CreateCompilationJob's ``InputConfig.DataInputConfig``: the shapes as JSON, keys in forward order."""
    return json.dumps(check_input_shapes(input_shapes))


def check_forward_inputs(names: Sequence[str], forward_parameters: Sequence[str], model_name: str) -> None:
    """Every configured input must be an argument of the transformer's forward."""
    absent = [name for name in names if name not in forward_parameters]
    if absent:
        present = [name for name in FORWARD_INPUTS if name in forward_parameters]
        raise InputShapesError(
            f"input_shapes names {', '.join(absent)}, which {model_name}.forward does not take; "
            f"its inputs here: {', '.join(present)}"
        )


# --- building ------------------------------------------------------------------------------------


def build_neo_input(
    model_dir: Path,
    code_dir: Path,
    out_dir: Path,
    *,
    input_shapes: Mapping[str, Sequence[int]],
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
    vendored: VendoredDependencies | None = None,
) -> BuiltArtifact:
    """Trace ``model_dir`` and write the Neo-ready ``model-<hash>.tar.gz`` and its manifest into
    ``out_dir`` (``excluded``, ``requirements`` and ``vendored`` as for ``build_artifact``)."""
    sources, model, shapes = _checked_inputs(model_dir, code_dir, input_shapes, excluded, requirements)
    return _build(sources, model, shapes, Path(out_dir), vendored)


def build_neo_input_cached(
    model_dir: Path,
    code_dir: Path,
    out_dir: Path,
    *,
    input_shapes: Mapping[str, Sequence[int]],
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
    vendored: VendoredDependencies | None = None,
) -> BuiltArtifact:
    """``build_neo_input``, skipped when the same inputs, shapes and torch/transformers versions
    were built before (see ``build_artifact_cached``)."""
    sources, model, shapes = _checked_inputs(model_dir, code_dir, input_shapes, excluded, requirements)
    versions = [_installed_version(name) for name in ("torch", "transformers")]
    header = "\0".join(["neo", str(NEO_BUILD_VERSION), str(BUILD_VERSION), str(GZIP_LEVEL), *versions])
    keyed = sources if vendored is None else vendored.sources(sources)
    key = cache_key(f"{header}\0{json.dumps(shapes)}", keyed)
    return cached_build(Path(out_dir), key, lambda: _build(sources, model, shapes, Path(out_dir), vendored))


def _checked_inputs(
    model_dir: Path,
    code_dir: Path,
    input_shapes: Mapping[str, Sequence[int]],
    excluded: Sequence[str],
    requirements: Path | None,
) -> tuple[list[SourceFile], SentenceModel, dict[str, list[int]]]:
    sources = collect_sources(model_dir, code_dir, excluded=excluded, requirements=requirements)
    model = read_sentence_model(Path(model_dir))
    shapes = check_input_shapes(input_shapes, max_positions=model.max_position_embeddings)
    return sources, model, shapes


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _build(
    sources: list[SourceFile],
    model: SentenceModel,
    shapes: dict[str, list[int]],
    out_dir: Path,
    vendored: VendoredDependencies | None,
) -> BuiltArtifact:
    """Stage the trace, the model's other files, the metadata and the code in a temporary folder
    inside ``out_dir``, then ``build_artifact`` it; the folder goes whatever happens."""
    with _output_errors(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-neo-", dir=out_dir))
    try:
        model_stage, code_stage = staging / "model", staging / "code"
        with _output_errors(out_dir):
            model_stage.mkdir()
            for source in sources:
                if source.archive_path.startswith("code/"):
                    target = code_stage / source.archive_path.removeprefix("code/")
                elif source.is_weights:
                    continue
                else:
                    target = model_stage / source.archive_path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source.source, target)
        facts = _trace_in_subprocess(
            model.model_dir, shapes, model_stage / MODEL_FILE, staging / "trace.json"
        )
        metadata = _metadata(model, shapes, facts)
        (model_stage / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        dtypes: dict[str, int] = facts["dtypes"]
        model_facts = ModelFacts(
            parameter_count=sum(dtypes.values()),
            dtypes=dtypes,
            weights_bytes=(model_stage / MODEL_FILE).stat().st_size,
        )
        return build_artifact(
            model_stage,
            code_stage,
            out_dir,
            artifact_format="tar.gz",
            show_progress=False,
            excluded=(),
            model_facts=model_facts,
            vendored=vendored,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _metadata(model: SentenceModel, shapes: dict[str, list[int]], facts: dict[str, Any]) -> dict[str, Any]:
    """``neo_input.json``: what Neo and the handler need to know about ``model.pth``."""
    sequence = shapes["input_ids"][1]
    prefix = f"{model.transformer_path}/" if model.transformer_path else ""
    return {
        "framework": "PYTORCH",
        "model_file": MODEL_FILE,
        "input_shapes": shapes,
        "dtype": "int64",
        "compiler_options": COMPILER_OPTIONS,
        "pooling": model.pooling,
        "normalize": model.normalize,
        "embedding_dimension": facts["embedding_dimension"],
        "max_seq_length": min(sequence, model.max_seq_length or sequence),
        "do_lower_case": model.do_lower_case,
        "tokenizer_file": f"{prefix}tokenizer.json",
        "traced_with": {"torch": facts["torch"], "transformers": facts["transformers"]},
        "torchscript_file_format_version": facts["file_format_version"],
        "operators": facts["operators"],
    }


def _trace_in_subprocess(
    model_dir: Path, shapes: dict[str, list[int]], output: Path, result_path: Path
) -> dict[str, Any]:
    """Run this module as a fresh process that writes ``output`` and its facts to ``result_path``."""
    arguments = [
        "--model-dir", str(model_dir), "--input-shapes", json.dumps(shapes), "--output", str(output),
        "--result", str(result_path),
    ]  # fmt: skip
    failing = f"cannot trace {model_dir}"
    outcome = run_model_process(
        "model_packaging.neo",
        arguments,
        result_path=result_path,
        timeout_seconds=TRACE_TIMEOUT_SECONDS,
        failing=failing,
    )
    result = outcome.result
    if "error" in result:
        error_type = InputShapesError if result.get("input_shapes") else PackagingError
        raise error_type(result["error"])
    if outcome.returncode != 0 or "facts" not in result:
        raise outcome.exit_error(failing, "tracing")
    facts: dict[str, Any] = result["facts"]
    return facts


# --- the tracing process -------------------------------------------------------------------------


def _trace_command(argv: Sequence[str]) -> int:
    """Entry point of the tracing process: trace, save, write ``{"facts"}`` or ``{"error"}``."""
    parser = argparse.ArgumentParser(prog="python -m model_packaging.neo")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--input-shapes", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    result: dict[str, Any]
    try:
        model = read_sentence_model(args.model_dir)
        result = {"facts": _trace_to_file(model, json.loads(args.input_shapes), args.output)}
    except InputShapesError as error:
        result = {"error": str(error), "input_shapes": True}
    except PackagingError as error:
        result = {"error": str(error)}
    except Exception as error:  # any failure of loading or tracing is the user's to fix: one line
        first_line = (str(error).strip().splitlines() or [""])[0]
        result = {"error": f"cannot trace {args.model_dir}: {type(error).__name__}: {first_line}"}
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0 if "facts" in result else 1


def _trace_to_file(model: SentenceModel, shapes: dict[str, list[int]], output: Path) -> dict[str, Any]:
    import torch
    import transformers
    from transformers import AutoModel

    def refuse(why: str) -> PackagingError:
        return PackagingError(f"cannot trace {model.model_dir}: {why}")

    torch.manual_seed(0)
    transformer = AutoModel.from_pretrained(
        str(model.transformer_dir),
        attn_implementation="eager",  # SDPA is newer than what Neo's torch 2.0 compiles
        return_dict=False,
        dtype=torch.float32,
        local_files_only=True,
    ).eval()
    parameters = list(inspect.signature(transformer.forward).parameters)
    check_forward_inputs(list(shapes), parameters, type(transformer).__name__)
    module = _sentence_embedding(torch, transformer, pooling=model.pooling, normalize=model.normalize).eval()
    examples = _example_inputs(torch, shapes, transformer.config)
    with torch.no_grad():
        traced = torch.jit.trace(module, examples[0], check_trace=False, _store_inputs=False)
        version = _save_without_debug_records(torch, traced, output)
        loaded = torch.jit.load(str(output), map_location="cpu")
        expected, saved = module(*examples[1]), loaded(*examples[1])
    difference = float((expected - saved).abs().max())
    dimension = int(saved.shape[-1])
    if difference > TRACE_TOLERANCE:
        raise refuse(f"the traced module differs from the eager one by {difference:.2g}")
    if version > NEO_TORCH_MAX_FILE_FORMAT:
        raise refuse(
            f"TorchScript archive version {version} is newer than {NEO_TORCH_MAX_FILE_FORMAT}, "
            "the newest Neo's PyTorch 2.0 loads"
        )
    tensors = {id(t): t for t in loaded.state_dict().values()}.values()
    dtypes: dict[str, int] = {}
    for tensor in tensors:
        name = _SAFETENSORS_DTYPES.get(str(tensor.dtype).removeprefix("torch."), str(tensor.dtype))
        dtypes[name] = dtypes.get(name, 0) + int(tensor.numel())
    operators = sorted({node.kind() for node in loaded.inlined_graph.nodes()})
    fused = [op for op in operators if "scaled_dot_product" in op]
    if fused:
        raise refuse(f"the trace uses {', '.join(fused)} despite eager attention; Neo's PyTorch 2.0 cannot")
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "file_format_version": version,
        "embedding_dimension": dimension,
        "max_difference": difference,
        "operators": operators,
        "dtypes": dict(sorted(dtypes.items())),
    }


def _sentence_embedding(torch: Any, transformer: Any, *, pooling: str, normalize: bool) -> Any:
    """Transformer -> pooling -> optional L2 normalization, as sentence-transformers computes them."""

    class SentenceEmbedding(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            tokens = self.transformer(**inputs)[0]
            if pooling == "cls":
                pooled = tokens[:, 0]  # right padding: the first token is CLS
            else:
                mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1) if normalize else pooled

    SentenceEmbedding.__module__, SentenceEmbedding.__qualname__ = __name__, "SentenceEmbedding"
    return SentenceEmbedding()


def _example_inputs(torch: Any, shapes: dict[str, list[int]], config: Any) -> list[tuple[Any, ...]]:
    """Two fixed pseudo-random batches with right padding, of other lengths: the first traces,
    the second checks the saved trace against the eager module."""
    batch, sequence = shapes["input_ids"]
    generator = torch.Generator().manual_seed(0)
    examples = []
    for shortest in (max(1, sequence // 4), sequence):
        lengths = torch.linspace(shortest, max(1, sequence - 1), batch).round().long().clamp(1, sequence)
        if shortest == sequence:
            lengths[0] = sequence  # one row without padding
        mask = (torch.arange(sequence).unsqueeze(0) < lengths.unsqueeze(1)).long()
        ids = torch.randint(0, int(config.vocab_size), (batch, sequence), generator=generator) * mask
        inputs = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in shapes:
            types = int(getattr(config, "type_vocab_size", 1) or 1)
            inputs["token_type_ids"] = torch.randint(0, types, (batch, sequence), generator=generator) * mask
        examples.append(tuple(inputs[name] for name in shapes))
    return examples


def _save_without_debug_records(torch: Any, traced: Any, output: Path) -> int:
    """``torch.jit.save`` without the ``*.debug_pkl`` source-location records; returns the
    archive's format version. Records are rewritten in their order by torch's own archive writer
    (64-byte aligned tensors, serialization id derived from the contents)."""
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0] + "/"
        version = int(archive.read(prefix + ".data/version"))
        writer = torch._C.PyTorchFileWriter(str(output))
        writer.set_min_version(version)
        for name in names:
            record = name.removeprefix(prefix)
            if record.endswith(".debug_pkl") or record in (".data/version", ".data/serialization_id"):
                continue
            data = archive.read(name)
            writer.write_record(record, data, len(data))
        writer.write_end_of_file()
    return version


if __name__ == "__main__":
    sys.exit(_trace_command(sys.argv[1:]))
