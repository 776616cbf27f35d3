"""How much does shrinking a sentence-embedding model buy? One model, four variants, measured alike.

Variants (``VARIANTS``), each a folder as it would be packaged (the model files at the root):

* ``torch-fp32``: the original folder, served with sentence-transformers (what the example handler
  loads); the reference for accuracy;
* ``torch-int8``: ``torch.ao.quantization.quantize_dynamic`` on the ``Linear`` layers of the loaded
  SentenceTransformer (weights int8, activations quantized per batch at run time; the embedding
  table stays fp32). The artifact is the quantized ``state_dict`` saved with ``torch.save`` plus
  the non-weight files. It is loaded with transformers alone (no sentence-transformers, whose
  loader needs the fp32 weights file): the model is built from ``config.json``, quantized the same
  way and given the saved int8 weights; pooling and normalization are sentence-transformers' (mean
  over the attention mask, L2). ``torch.ao.quantization`` is deprecated in torch 2.13 (its warning
  points to torchao's ``quantize_``); the warning is silenced here;
* ``onnx-fp32`` and ``onnx-int8``: the servable folders ``model_packaging.optimize.optimize_model``
  writes (``export_onnx``, and for int8 ``quantize_onnx_int8``: ONNX Runtime dynamic int8, per
  channel), served with ``OnnxSentenceEncoder`` (onnxruntime and tokenizers; torch is never
  imported). Their ``onnx_model.json`` makes the int8 graph run one sentence at a time (its
  activation scales would otherwise depend on batch mates), so "batch 32" there is 32 runs, as the
  handler serves it.

Method. Every variant runs in FRESH Python processes (``python -m model_packaging.compression_report
child ...``) that import only what the variant needs; the parent checks that no ONNX process
imported torch. ``cold_runs`` processes per variant load the model and answer one sentence:

* cold start: seconds from just before the parent spawns the process to the moment it reads the
  process's first answer (interpreter start, imports, loading, first inference); the median is
  reported. Model files are read once beforehand, so all variants start from the page cache;
* memory: the process's resident set (``VmRSS``) after loading and answering once, and its peak
  (``VmHWM``) after the latency runs below, which is what sizing uses.

The last of those processes then measures, warm, on ``threads`` threads (``torch.set_num_threads``,
or onnxruntime's ``intra_op_num_threads``; ``OMP_NUM_THREADS`` set alike): latency at batch 1 (one
probe sentence per call, cycling through them) and batch 32 (the first 32 probes), ``repeats`` timed
calls each after 3 untimed ones, median seconds; sentences per second at batch 32 is 32 over that
median. The process also measures the CPU time other processes used meanwhile (``/proc/stat``):
when they took more than ``BUSY_MACHINE_SHARE`` of the machine it times again, up to
``TIMING_ROUNDS`` rounds, keeps the quietest and the report says so (torch's OpenMP threads slow
down many times over when another process takes a core).

Accuracy: the cosine between each probe sentence's embedding and the fp32 torch one, mean and
minimum, encoded two ways: one sentence per call, and 32 per call in file order. Dynamic int8
quantizes activations with one scale per batch, so a sentence's embedding depends on its batch
mates; ``cosine_mean`` and ``cosine_min`` are the worse of the two ways.

Artifact size: the bytes of the files that ``build_artifact`` would package (``DEFAULT_EXCLUDED``
leaves out README and .git* files) and, for reference, the size of those files as tar.gz with ISA-L
gzip at the level ``build_artifact`` uses (weights barely compress, so the two are close). The
handler's ``code/`` folder is the same for every variant and not counted.

Sizing. The worker process measured here is not all that runs in the container. In the SageMaker
PyTorch inference image, TorchServe's Java frontend and the toolkit's Python launcher run beside
the workers: ``MODEL_SERVER_ALLOWANCE_BYTES`` covers them. Each worker also imports torch before our
``model_fn`` runs (the toolkit's handler service imports ``default_pytorch_inference_handler``, which
does ``import torch``), so a variant whose process did not import torch is charged
``TORCH_IN_WORKER_BYTES`` per worker on that image (``measured_torch_import_bytes`` shows what
``import torch`` alone costs here). Serverless: the smallest ``SERVERLESS_MEMORY_SIZES_MB`` that holds
the allowance plus one worker (set ``SAGEMAKER_MODEL_SERVER_WORKERS=1``: serverless hides its vCPU
count). Real time: the smallest instance of ``endpoint_configs/instance_catalog.json`` (x86_64, no GPU) that
holds the allowance plus one worker per vCPU, TorchServe's default.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_packaging.manifest import MODEL_SERVER_ALLOWANCE_BYTES, TORCH_IN_WORKER_BYTES

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

VARIANTS = ("torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8")
REFERENCE = "torch-fp32"
DESCRIPTIONS = {
    "torch-fp32": "original folder, sentence-transformers",
    "torch-int8": "torch dynamic int8 (Linear layers), transformers",
    "onnx-fp32": "ONNX fp32, onnxruntime",
    "onnx-int8": "ONNX Runtime dynamic int8 per channel",
}
TORCH_FREE = frozenset({"onnx-fp32", "onnx-int8"})
"""Variants whose serving process must not import torch."""

MIB = 1024**2
DEFAULT_THREADS = 2
DEFAULT_REPEATS = 20
DEFAULT_COLD_RUNS = 3
LATENCY_BATCH = 32
WARMUP_CALLS = 3
BUSY_MACHINE_SHARE = 0.10
"""Other processes using more than this share of the CPUs while latency is timed: the child times
again (up to ``TIMING_ROUNDS`` rounds, keeping the quietest), and the report notes it if all were."""
TIMING_ROUNDS = 3
CHILD_TIMEOUT_SECONDS = 900
QUANTIZED_STATE_DICT = "quantized_state_dict.pt"
ONNX_FILE = "model.onnx"
REPORT_THRESHOLDS = 1e-6
"""Accuracy thresholds handed to ``optimize_model``: low enough that its gate never refuses."""
PROJECT_ROOT = Path(__file__).resolve().parents[1]
MARKER = "COMPRESSION-REPORT "
"""Prefix of the child's JSON lines on stdout (libraries may print there too)."""

# MODEL_SERVER_ALLOWANCE_BYTES and TORCH_IN_WORKER_BYTES: see model_packaging.manifest.


# ---- report data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantRow:
    """What was measured for one variant, and the sizes it needs."""

    variant: str
    description: str
    artifact_dir: str
    artifact_bytes: int
    """Bytes of the files as packaged (what the table shows)."""
    artifact_tar_gz_bytes: int
    """The same files as tar.gz (ISA-L gzip at ``build_artifact``'s level), for reference."""
    cold_start_seconds: float
    """Median over ``cold_start_runs``."""
    cold_start_runs: list[float]
    cold_start_others_share: float | None
    """Median share of the machine's CPU time other processes used during the cold starts."""
    cold_start_phases: dict[str, float]
    """Medians of the child's own clock: ``import`` (the libraries), ``load`` (the model) and
    ``first_answer``; the rest of the cold start is the interpreter starting and stopping clocks."""
    rss_after_imports_bytes: int
    rss_after_load_bytes: int
    """Resident memory after loading and answering once (median over the cold runs)."""
    peak_rss_bytes: int
    """Peak resident memory of the measuring process, after the batch-32 runs."""
    imports_torch: bool
    latency_batch1_seconds: float
    latency_batch32_seconds: float
    sentences_per_second_batch32: float
    others_cpu_share: float | None
    """Share of the machine's CPU time that other processes used while latency was timed (Linux);
    above ``BUSY_MACHINE_SHARE`` the speed figures are disturbed."""
    cosine_mean: float
    """Mean cosine to fp32 torch, the worse of the batch-1 and batch-32 encodings."""
    cosine_min: float
    cosine_batch1_mean: float
    cosine_batch1_min: float
    cosine_batch32_mean: float
    cosine_batch32_min: float
    worker_memory_bytes: int
    """Peak memory of one worker on the SageMaker PyTorch image: ``peak_rss_bytes``, plus
    ``TORCH_IN_WORKER_BYTES`` when the variant does not import torch itself."""
    serving_memory_bytes: int
    """``MODEL_SERVER_ALLOWANCE_BYTES`` plus one worker: what the serverless size must hold."""
    serverless_memory_mb: int | None
    """Smallest serverless memory size that holds ``serving_memory_bytes``; None if none does."""
    realtime_instance: str | None
    """Smallest x86_64 instance holding the allowance plus one worker per vCPU; None if none does."""
    realtime_instance_steady: str | None
    """The same, leaving out burstable ``ml.t2`` (CPU credits, no autoscaling)."""


@dataclass(frozen=True)
class CompressionReport:
    """The rows of ``measure_variants`` and how they were measured."""

    model_dir: str
    probe_file: str
    probe_count: int
    threads: int
    repeats: int
    cold_runs: int
    rows: list[VariantRow]
    model_server_allowance_bytes: int = MODEL_SERVER_ALLOWANCE_BYTES
    torch_in_worker_bytes: int = TORCH_IN_WORKER_BYTES
    measured_torch_import_bytes: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, variant: str) -> VariantRow:
        """The row of ``variant``; ``KeyError`` when it was not measured."""
        for row in self.rows:
            if row.variant == variant:
                return row
        raise KeyError(f"{variant} was not measured (measured: {', '.join(r.variant for r in self.rows)})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: sizes in bytes, times in seconds, as the fields are named."""
        return asdict(self)


# ---- sizing ---------------------------------------------------------------------------------------


def worker_memory_bytes(peak_rss_bytes: int, *, imports_torch: bool) -> int:
    """One worker's memory on the SageMaker PyTorch image (see ``TORCH_IN_WORKER_BYTES``)."""
    return peak_rss_bytes + (0 if imports_torch else TORCH_IN_WORKER_BYTES)


def serverless_memory_size_mb(memory_bytes: int) -> int | None:
    """The smallest serverless memory size (MB as SageMaker counts them, MiB) holding ``memory_bytes``."""
    from endpoint_configs.limits import SERVERLESS_MEMORY_SIZES_MB

    return next((size for size in SERVERLESS_MEMORY_SIZES_MB if size * MIB >= memory_bytes), None)


def realtime_instance_for(worker_bytes: int, *, include_burstable: bool = True) -> str | None:
    """The smallest x86_64 instance holding the model server and one ``worker_bytes`` worker per vCPU."""
    from endpoint_configs.instance_catalog import smallest_instance_for

    return smallest_instance_for(
        MODEL_SERVER_ALLOWANCE_BYTES, per_vcpu_bytes=worker_bytes, include_burstable=include_burstable
    )


# ---- artifacts ------------------------------------------------------------------------------------


def packaged_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that ``build_artifact`` packages by default, sorted."""
    from model_packaging.sources import DEFAULT_EXCLUDED, SKIPPED_NAMES

    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or SKIPPED_NAMES & set(relative.parts):
            continue
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in DEFAULT_EXCLUDED):
            continue
        found.append(path)
    return found


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in packaged_files(folder))


class _CountingSink:
    """A write-only file that only counts bytes."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def tar_gz_bytes(folder: Path) -> int:
    """Size of the packaged files as tar.gz (ISA-L gzip at ``build_artifact``'s level), not written."""
    import tarfile

    from isal import igzip

    from model_packaging.build import GZIP_LEVEL

    sink = _CountingSink()
    gzip_stream = igzip.IGzipFile(  # type: ignore[no-untyped-call]
        filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=sink, mtime=0
    )
    with gzip_stream as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in packaged_files(folder):
            tar.add(path, arcname=path.relative_to(folder).as_posix())
    return sink.size


def copy_non_weight_files(model_dir: Path, target: Path) -> None:
    """Copy the packaged files of ``model_dir`` except weights (tokenizer, configs, pooling)."""
    from model_packaging.sources import WEIGHT_SUFFIXES

    for path in packaged_files(model_dir):
        if path.name.endswith(WEIGHT_SUFFIXES):
            continue
        destination = target / path.relative_to(model_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


@contextlib.contextmanager
def quiet_quantization_warnings() -> Iterator[None]:
    """Silence torch 2.13's deprecation warnings for ``torch.ao.quantization`` and quantized tensors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
        warnings.filterwarnings("ignore", message=r"TypedStorage is deprecated")
        yield


def build_torch_int8(model_dir: Path, target: Path) -> None:
    """The torch dynamic int8 variant: quantized ``state_dict`` of the transformer plus the other files."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    bar = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # "Loading weights" on the terminal
    try:
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    finally:
        if bar:
            transformers_logging.enable_progress_bar()
    model.eval()
    with quiet_quantization_warnings():
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    transformer = quantized[0]
    inner = getattr(transformer, "model", None) or transformer.auto_model
    copy_non_weight_files(model_dir, target)
    torch.save(inner.state_dict(), target / QUANTIZED_STATE_DICT)


def build_onnx(model_dir: Path, out_dir: Path, probe_file: Path, method: str) -> Path:
    """The servable folder ``optimize_model`` writes for ``method`` (``onnx-fp32``, ``onnx-int8``):
    ``model.onnx``, the tokenizer and config files and ``onnx_model.json`` (which, for int8, makes
    ``OnnxSentenceEncoder`` run one sentence at a time, as the handler does). Its accuracy gate is
    opened wide (``REPORT_THRESHOLDS``): this report measures accuracy itself, also of a variant
    the gate would refuse. ``out_dir`` keeps optimize's export cache between runs."""
    from model_packaging.optimize import AccuracyThresholds, optimize_model

    thresholds = AccuracyThresholds(mean=REPORT_THRESHOLDS, minimum=REPORT_THRESHOLDS)
    return optimize_model(
        model_dir, out_dir, method=method, probe_file=probe_file, thresholds=thresholds
    ).model_dir


def warm_page_cache(folder: Path) -> None:
    """Read every file once so that no variant's cold start pays for the disk."""
    for path in packaged_files(folder):
        with path.open("rb", buffering=0) as handle:
            while handle.read(8 * MIB):
                pass


# ---- measuring ------------------------------------------------------------------------------------


@dataclass
class _ChildRun:
    cold_start_seconds: float
    cold_start_others_share: float | None
    """Share of the machine's CPU other processes (not the child, not this one) used meanwhile."""
    ready: dict[str, Any]
    done: dict[str, Any] | None


def _child_environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _run_child(arguments: list[str], *, threads: int, log_path: Path) -> _ChildRun:
    command = [sys.executable, "-m", "model_packaging.compression_report", "child", *arguments]
    env = _child_environment(threads)
    ready: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    others: float | None = None
    cold = 0.0
    with log_path.open("w", encoding="utf-8") as stderr:
        cpu_before, start = _cpu_seconds(), time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=PROJECT_ROOT
        )
        watchdog = threading.Timer(CHILD_TIMEOUT_SECONDS, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if not line.startswith(MARKER):
                    continue
                message = json.loads(line[len(MARKER) :])
                if message["stage"] == "ready":
                    cold = time.perf_counter() - start
                    cpu_after = _cpu_seconds()
                    ready = message
                    if cpu_before is not None and cpu_after is not None:
                        busy = cpu_after[0] - cpu_before[0] - (cpu_after[1] - cpu_before[1])
                        share = (busy - float(message["cpu_seconds"])) / (cold * (os.cpu_count() or 1))
                        others = max(0.0, share)
                elif message["stage"] == "done":
                    done = message
            code = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
    if code != 0 or ready is None:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(
            f"{' '.join(command[3:6])} failed (exit {code}; stopped after {CHILD_TIMEOUT_SECONDS} s if "
            f"it hung); its stderr ends:\n{tail}"
        )
    return _ChildRun(cold, others, ready, done)


def _cosines(reference: Vectors, candidate: Vectors) -> tuple[float, float]:
    import numpy as np

    a = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    b = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    cosine = (a * b).sum(axis=1)
    return float(cosine.mean()), float(cosine.min())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_variants(
    model_dir: Path,
    *,
    probe_file: Path,
    work_dir: Path,
    threads: int = DEFAULT_THREADS,
    repeats: int = DEFAULT_REPEATS,
    cold_runs: int = DEFAULT_COLD_RUNS,
    variants: Sequence[str] = VARIANTS,
    log: Callable[[str], None] = _log,
) -> CompressionReport:
    """Build the variants of ``model_dir`` in ``work_dir`` and measure each (see the module docstring).

    ``variants`` must include ``torch-fp32``, the accuracy reference. Progress goes to ``log``.
    """
    import numpy as np

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or REFERENCE not in variants:
        raise ValueError(
            f"variants must be among {', '.join(VARIANTS)} and include {REFERENCE}: {list(variants)}"
        )
    if threads < 1 or repeats < 1 or cold_runs < 1:
        raise ValueError("threads, repeats and cold_runs must be at least 1")
    model_dir, probe_file, work_dir = Path(model_dir), Path(probe_file), Path(work_dir)
    probes = _probes(probe_file)
    if not probes:
        raise ValueError(f"{probe_file} holds no probe sentences")
    ordered = [v for v in VARIANTS if v in variants]

    artifacts_root, logs, embeddings = work_dir / "artifacts", work_dir / "logs", work_dir / "embeddings"
    for folder in (artifacts_root, logs, embeddings):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    probes_json = work_dir / "probes.json"
    probes_json.write_text(json.dumps(probes), encoding="utf-8")
    folders = {"torch-fp32": model_dir}
    if "torch-int8" in ordered:
        log("quantizing with torch dynamic int8 ...")
        folders["torch-int8"] = artifacts_root / "torch-int8"
        build_torch_int8(model_dir, folders["torch-int8"])
    for variant in ("onnx-fp32", "onnx-int8"):
        if variant in ordered:
            log(f"optimizing to {variant} with model_packaging.optimize ...")
            folders[variant] = build_onnx(model_dir, work_dir / "optimized", probe_file, variant)

    log("measuring `import torch` alone in a fresh process ...")
    torch_import = _run_child(
        ["--variant", "torch-import"], threads=threads, log_path=logs / "torch-import.log"
    ).ready["rss_bytes"]

    runs: dict[str, list[_ChildRun]] = {}
    for variant in ordered:
        warm_page_cache(folders[variant])
        runs[variant] = []
        for index in range(cold_runs):
            last = index == cold_runs - 1
            arguments = [
                "--variant",
                variant,
                "--model-dir",
                str(folders[variant]),
                "--threads",
                str(threads),
            ]
            if last:
                arguments += [
                    "--probes-json", str(probes_json),
                    "--repeats", str(repeats),
                    "--embeddings-out", str(embeddings / f"{variant}.npz"),
                ]  # fmt: skip
            run = _run_child(arguments, threads=threads, log_path=logs / f"{variant}-{index + 1}.log")
            runs[variant].append(run)
            timed = (
                "" if run.done is None else f", batch 32 {run.done['latency_batch32_seconds'] * 1000:.1f} ms"
            )
            log(
                f"  {variant:<11} run {index + 1}/{cold_runs}: cold start {run.cold_start_seconds:.2f} s, "
                f"{run.ready['rss_bytes'] / MIB:.0f} MiB after load{timed}"
            )

    reference = np.load(embeddings / f"{REFERENCE}.npz")
    rows = []
    for variant in ordered:
        found = np.load(embeddings / f"{variant}.npz")
        b1_mean, b1_min = _cosines(reference["batch1"], found["batch1"])
        b32_mean, b32_min = _cosines(reference["batch32"], found["batch32"])
        variant_runs = runs[variant]
        done = variant_runs[-1].done
        assert done is not None
        imports_torch = any(run.ready["imports_torch"] for run in variant_runs)
        if variant in TORCH_FREE and imports_torch:
            raise RuntimeError(
                f"the {variant} process imported torch: its memory and cold start are not valid"
            )
        peak = int(done["peak_rss_bytes"])
        worker = worker_memory_bytes(peak, imports_torch=imports_torch)
        serving = MODEL_SERVER_ALLOWANCE_BYTES + worker
        rows.append(
            VariantRow(
                variant=variant,
                description=DESCRIPTIONS[variant],
                artifact_dir=str(folders[variant]),
                artifact_bytes=folder_bytes(folders[variant]),
                artifact_tar_gz_bytes=tar_gz_bytes(folders[variant]),
                cold_start_seconds=statistics.median(r.cold_start_seconds for r in variant_runs),
                cold_start_runs=[round(r.cold_start_seconds, 4) for r in variant_runs],
                cold_start_others_share=_median_or_none(r.cold_start_others_share for r in variant_runs),
                cold_start_phases={
                    phase: statistics.median(float(r.ready[f"{phase}_seconds"]) for r in variant_runs)
                    for phase in ("import", "load", "first_answer")
                },
                rss_after_imports_bytes=int(
                    statistics.median(r.ready["rss_after_imports_bytes"] for r in variant_runs)
                ),
                rss_after_load_bytes=int(statistics.median(r.ready["rss_bytes"] for r in variant_runs)),
                peak_rss_bytes=peak,
                imports_torch=imports_torch,
                latency_batch1_seconds=float(done["latency_batch1_seconds"]),
                latency_batch32_seconds=float(done["latency_batch32_seconds"]),
                sentences_per_second_batch32=LATENCY_BATCH / float(done["latency_batch32_seconds"]),
                others_cpu_share=done.get("others_cpu_share"),
                cosine_mean=min(b1_mean, b32_mean),
                cosine_min=min(b1_min, b32_min),
                cosine_batch1_mean=b1_mean,
                cosine_batch1_min=b1_min,
                cosine_batch32_mean=b32_mean,
                cosine_batch32_min=b32_min,
                worker_memory_bytes=worker,
                serving_memory_bytes=serving,
                serverless_memory_mb=serverless_memory_size_mb(serving),
                realtime_instance=realtime_instance_for(worker),
                realtime_instance_steady=realtime_instance_for(worker, include_burstable=False),
            )
        )
    notes = [
        "torch.ao.quantization is deprecated in torch 2.13 (its warning names torchao's quantize_ as the "
        "replacement); the torch-int8 variant uses it with the warning silenced.",
        "torch-int8 is loaded with transformers only (built from config.json, quantized, then given the "
        "saved int8 weights); torch-fp32 with sentence-transformers, whose import alone is larger.",
        "Sizing assumes the SageMaker PyTorch inference image (TorchServe): one worker on serverless "
        "(set SAGEMAKER_MODEL_SERVER_WORKERS=1), one per vCPU on instances (TorchServe's default).",
    ]
    cold_busy = [row for row in rows if (row.cold_start_others_share or 0.0) > BUSY_MACHINE_SHARE]
    if cold_busy:
        shares = ", ".join(f"{row.variant} {row.cold_start_others_share:.0%}" for row in cold_busy)
        notes.append(
            f"Other processes used the CPUs during the cold starts of these variants ({shares} of the "
            "machine, median): their cold starts are pessimistic."
        )
    busy = [row for row in rows if (row.others_cpu_share or 0.0) > BUSY_MACHINE_SHARE]
    if busy:
        shares = ", ".join(f"{row.variant} {row.others_cpu_share:.0%}" for row in busy)
        notes.append(
            f"Other processes used the CPUs in all {TIMING_ROUNDS} timing rounds of these variants "
            f"({shares} of the machine in the quietest): their latency and throughput are "
            "pessimistic; run again on a quiet machine."
        )
    return CompressionReport(
        model_dir=str(model_dir),
        probe_file=str(probe_file),
        probe_count=len(probes),
        threads=threads,
        repeats=repeats,
        cold_runs=cold_runs,
        rows=rows,
        measured_torch_import_bytes=int(torch_import),
        environment=_environment(),
        notes=notes,
    )


def _median_or_none(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _probes(probe_file: Path) -> list[str]:
    from model_packaging.optimize import read_probes

    return read_probes(probe_file)


def _environment() -> dict[str, str]:
    found = {"python": platform.python_version(), "machine": platform.machine(), "cpus": str(os.cpu_count())}
    for package in ("torch", "sentence-transformers", "transformers", "onnxruntime", "tokenizers", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


# ---- printing -------------------------------------------------------------------------------------


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:.1f}"


SPEED_HEADERS = (
    "variant", "MiB", "tar.gz MiB", "smaller", "cold start s", "batch 1 ms", "batch 32 ms", "sent/s @32",
    "cos mean", "cos min",
)  # fmt: skip
MEMORY_HEADERS = (
    "variant", "torch", "imports", "after load", "peak", "serving", "serverless MB", "instance",
    "instance (no t2)",
)  # fmt: skip


def report_tables(report: CompressionReport) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, headers, rows, caption) of the two tables ``print_report`` shows."""
    reference = next((r for r in report.rows if r.variant == REFERENCE), None)
    speed_rows = []
    for row in report.rows:
        smaller = "-" if reference is None else f"{reference.artifact_bytes / row.artifact_bytes:.2f}x"
        speed_rows.append(
            [
                row.variant,
                _mb(row.artifact_bytes),
                _mb(row.artifact_tar_gz_bytes),
                smaller,
                f"{row.cold_start_seconds:.2f}",
                f"{row.latency_batch1_seconds * 1000:.1f}",
                f"{row.latency_batch32_seconds * 1000:.1f}",
                f"{row.sentences_per_second_batch32:.0f}",
                f"{row.cosine_mean:.4f}",
                f"{row.cosine_min:.4f}",
            ]
        )
    memory_rows = [
        [
            row.variant,
            "yes" if row.imports_torch else "no",
            _mb(row.rss_after_imports_bytes),
            _mb(row.rss_after_load_bytes),
            _mb(row.peak_rss_bytes),
            _mb(row.serving_memory_bytes),
            "-" if row.serverless_memory_mb is None else str(row.serverless_memory_mb),
            row.realtime_instance or "none fits",
            row.realtime_instance_steady or "none fits",
        ]
        for row in report.rows
    ]
    measured = report.measured_torch_import_bytes
    return [
        (
            f"Compression variants of {Path(report.model_dir).name}: {report.threads} thread(s), "
            f"{report.probe_count} probe sentences, median of {report.repeats} warm runs",
            list(SPEED_HEADERS),
            speed_rows,
            [
                "MiB: packaged model files (what the size ratio uses); tar.gz MiB: the same files through "
                "ISA-L gzip as build_artifact writes them.",
                f"cold start: spawn to first answer of a fresh process, median of {report.cold_runs}; "
                "cos: cosine to torch-fp32, the worse of one sentence per call and 32 per call.",
            ],
        ),
        (
            "Memory of a fresh serving process (MiB) and the sizes it needs",
            list(MEMORY_HEADERS),
            memory_rows,
            [
                "imports: resident after the imports; after load: after loading and one answer; peak: "
                "after the batch-32 runs (sizing uses it).",
                f"serving = peak + {report.model_server_allowance_bytes // MIB} MiB model server "
                f"allowance (TorchServe frontend and launcher) + {report.torch_in_worker_bytes // MIB} MiB "
                "for torch in the worker when the variant does not import it (the PyTorch toolkit does)"
                + ("" if measured is None else f"; `import torch` alone measured {measured / MIB:.0f} MiB")
                + ".",
                "instance: smallest x86_64 instance for the allowance plus one worker per vCPU; "
                "(no t2): without burstable types.",
            ],
        ),
    ]


def print_report(report: CompressionReport, *, as_json: bool) -> None:
    """The report as JSON on stdout (``as_json``), or as two tables in the terminal."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 130)  # not a terminal (piped): rich would assume 80
    for title, headers, body, caption in report_tables(report):
        table = Table(caption="\n".join(caption), caption_justify="left", box=box.SIMPLE_HEAD)
        for index, header in enumerate(headers):
            table.add_column(header, justify="left" if index == 0 else "right")
        for line in body:
            table.add_row(*line)
        console.print(f"\n{title}", style="bold", markup=False, highlight=False)
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


# ---- the child process --------------------------------------------------------------------------


def _memory() -> tuple[int, int]:
    """(resident, peak resident) bytes of this process: /proc on Linux, psutil elsewhere."""
    status = Path("/proc/self/status")
    if status.is_file():
        values = {}
        for line in status.read_text(encoding="ascii").splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values["VmRSS"], values["VmHWM"]
    import resource

    import psutil  # type: ignore[import-untyped]  # the ml extras install it; no stubs pinned

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(psutil.Process().memory_info().rss), int(peak if sys.platform == "darwin" else peak * 1024)


def _emit(stage: str, **values: Any) -> None:
    print(MARKER + json.dumps({"stage": stage, **values}), flush=True)


Encode = Callable[[list[str]], "Vectors"]


def _import_runtime(variant: str, model_dir: Path) -> None:
    """The imports of ``variant``'s serving code, timed and measured apart from loading. For torch
    that includes the model's transformers class, which transformers would import lazily at load."""
    if not variant.startswith("torch"):
        import model_packaging.optimize  # noqa: F401

        return
    import torch  # noqa: F401
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    if variant == "torch-fp32":
        import sentence_transformers  # noqa: F401
    model_type = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    class_name = MODEL_MAPPING_NAMES.get(model_type)
    if isinstance(class_name, str):
        getattr(transformers, class_name)


def _load(variant: str, model_dir: Path, threads: int) -> Encode:
    if variant == "torch-fp32":
        return _load_sentence_transformer(model_dir, threads)
    if variant == "torch-int8":
        return _load_torch_int8(model_dir, threads)
    from model_packaging.optimize import OnnxSentenceEncoder

    encoder = OnnxSentenceEncoder(model_dir, onnx_file=ONNX_FILE, threads=threads)

    def encode_onnx(sentences: list[str]) -> Vectors:
        return encoder.encode(sentences)

    return encode_onnx


def _load_sentence_transformer(model_dir: Path, threads: int) -> Encode:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    model.eval()

    def encode(sentences: list[str]) -> Vectors:
        vectors = model.encode(
            sentences,
            batch_size=LATENCY_BATCH,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    return encode


def _load_torch_int8(model_dir: Path, threads: int) -> Encode:
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    settings = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    pooling_file = model_dir / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        pooling = json.loads(pooling_file.read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens", False):
            raise RuntimeError(f"{pooling_file}: only mean pooling is implemented for torch-int8")
    max_length = int(settings.get("max_seq_length") or 512)
    lower_case = bool(settings.get("do_lower_case", False))
    # The structure from config.json (random fp32 weights), quantized in place the same way (no
    # copy), then the saved int8 weights.
    model = AutoModel.from_config(AutoConfig.from_pretrained(model_dir))
    model.eval()
    with quiet_quantization_warnings():
        torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        state = torch.load(model_dir / QUANTIZED_STATE_DICT, weights_only=True, mmap=True)
        model.load_state_dict(state)
        del state
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def encode(sentences: list[str]) -> Vectors:
        texts = [s.lower() for s in sentences] if lower_case else sentences
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            tokens = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return np.asarray(torch.nn.functional.normalize(pooled, dim=1).numpy(), dtype=np.float32)

    return encode


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy CPU seconds of the whole machine, CPU seconds of this process), or None off Linux."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return None
    fields = [int(v) for v in stat.read_text(encoding="ascii").splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy.
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK"), _own_cpu()


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _others_share(before: tuple[float, float] | None, wall: float) -> float | None:
    """Share of the machine's CPU time that other processes used during ``wall`` seconds."""
    after = _cpu_seconds()
    if before is None or after is None or wall <= 0:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / (wall * (os.cpu_count() or 1)))


def _median_seconds(call: Callable[[int], object], repeats: int) -> float:
    for index in range(WARMUP_CALLS):
        call(index)
    timings = []
    for index in range(repeats):
        start = time.perf_counter()
        call(index)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def _child(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="compression_report child")
    parser.add_argument("--variant", required=True, choices=[*VARIANTS, "torch-import"])
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument(
        "--probes-json", type=Path, help="with --embeddings-out: also measure speed and accuracy"
    )
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--embeddings-out", type=Path)
    args = parser.parse_args(argv)

    if args.variant == "torch-import":
        import torch  # noqa: F401

        rss, peak = _memory()
        _emit("ready", rss_bytes=rss, peak_rss_bytes=peak, imports_torch=True, cpu_seconds=_own_cpu())
        return 0

    start = time.perf_counter()
    _import_runtime(args.variant, args.model_dir)
    imported = time.perf_counter()
    rss_after_imports, _ = _memory()
    encode = _load(args.variant, args.model_dir, args.threads)
    loaded = time.perf_counter()
    first = encode(["Cold start: the first request after loading."])
    answered = time.perf_counter()
    rss, peak = _memory()
    _emit(
        "ready",
        import_seconds=imported - start,
        load_seconds=loaded - imported,
        first_answer_seconds=answered - loaded,
        rss_after_imports_bytes=rss_after_imports,
        rss_bytes=rss,
        peak_rss_bytes=peak,
        imports_torch="torch" in sys.modules,
        dimension=int(first.shape[1]),
        cpu_seconds=_own_cpu(),
    )
    if args.embeddings_out is None:
        return 0

    import numpy as np

    probes: list[str] = json.loads(args.probes_json.read_text(encoding="utf-8"))
    batch = [probes[i % len(probes)] for i in range(LATENCY_BATCH)]
    rounds = []
    for _ in range(TIMING_ROUNDS):
        cpu_before, timed_start = _cpu_seconds(), time.perf_counter()
        latency1 = _median_seconds(lambda i: encode([probes[i % len(probes)]]), args.repeats)
        latency32 = _median_seconds(lambda i: encode(batch), args.repeats)
        others = _others_share(cpu_before, time.perf_counter() - timed_start)
        rounds.append((others, latency1, latency32))
        if others is None or others <= BUSY_MACHINE_SHARE:
            break
    others, latency1, latency32 = min(rounds, key=lambda r: (r[0] or 0.0, r[2]))
    one_by_one = np.concatenate([encode([sentence]) for sentence in probes])
    in_batches = np.concatenate(
        [encode(probes[i : i + LATENCY_BATCH]) for i in range(0, len(probes), LATENCY_BATCH)]
    )
    np.savez(args.embeddings_out, batch1=one_by_one, batch32=in_batches)
    rss_end, peak_end = _memory()
    _emit(
        "done",
        latency_batch1_seconds=latency1,
        latency_batch32_seconds=latency32,
        others_cpu_share=others,
        rss_bytes=rss_end,
        peak_rss_bytes=peak_end,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``child ...``: the measuring process that ``measure_variants`` spawns (not for direct use)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] != "child":
        print("usage: python -m model_packaging optimize ... --report  (this module only runs children)")
        return 2
    return _child(arguments[1:])


if __name__ == "__main__":
    sys.exit(main())
