"""model_packaging.compression_report and the sizing of endpoint_configs.instance_catalog, without loading
a model: sizing from memory figures, the catalog's integrity, the report's JSON and its tables.

``benchmarks.compression`` runs the real measurement (minutes); these tests take milliseconds.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest

from benchmarks.compression import goals
from endpoint_configs import instance_catalog, limits
from endpoint_configs.instance_catalog import GIB, CatalogError, instance_types, smallest_instance_for
from model_packaging.compression_report import (
    MEMORY_HEADERS,
    MIB,
    SPEED_HEADERS,
    CompressionReport,
    VariantRow,
    folder_bytes,
    packaged_files,
    print_report,
    realtime_instance_for,
    report_tables,
    serverless_memory_size_mb,
    tar_gz_bytes,
    worker_memory_bytes,
)
from model_packaging.manifest import MODEL_SERVER_ALLOWANCE_BYTES, TORCH_IN_WORKER_BYTES
from tests.conftest import REPO

# ---- sizing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_bytes", "expected_mb"),
    [
        (0, 1024),
        (1024 * MIB, 1024),
        (1024 * MIB + 1, 2048),
        (3000 * MIB, 3072),
        (6144 * MIB, 6144),
        (6144 * MIB + 1, None),
    ],
)
def test_serverless_size_is_the_smallest_that_holds_the_memory(
    memory_bytes: int, expected_mb: int | None
) -> None:
    assert serverless_memory_size_mb(memory_bytes) == expected_mb


def test_serverless_sizes_come_from_the_service_limits() -> None:
    assert serverless_memory_size_mb(1) == limits.SERVERLESS_MEMORY_SIZES_MB[0]
    assert serverless_memory_size_mb(limits.SERVERLESS_MEMORY_SIZES_MB[-1] * MIB) == 6144


def test_a_worker_that_does_not_import_torch_is_charged_the_torch_the_toolkit_imports() -> None:
    assert worker_memory_bytes(100 * MIB, imports_torch=True) == 100 * MIB
    assert worker_memory_bytes(100 * MIB, imports_torch=False) == 100 * MIB + TORCH_IN_WORKER_BYTES


def test_smallest_instance_prefers_least_memory_then_fewest_vcpus() -> None:
    # 8 GiB: ml.t2.large (2 vCPU) before ml.c5.xlarge (4 vCPU); without burstable types ml.m5.large
    # (2 vCPU) before the 4-vCPU c5/c6i/c7i.xlarge.
    assert smallest_instance_for(5 * GIB) == "ml.t2.large"
    assert smallest_instance_for(5 * GIB, include_burstable=False) == "ml.m5.large"
    assert smallest_instance_for(GIB) == "ml.t2.medium"
    assert smallest_instance_for(GIB, include_burstable=False) == "ml.c5.large"
    assert smallest_instance_for(4 * GIB) == "ml.t2.medium"  # exactly full still fits


def test_smallest_instance_honours_the_architecture() -> None:
    # Graviton has 1-vCPU medium sizes: ml.c8g.medium (2 GiB) is smaller than any x86_64 type.
    assert smallest_instance_for(GIB, architectures=("arm64",)) == "ml.c8g.medium"
    assert smallest_instance_for(3 * GIB, architectures=("arm64",)) == "ml.m8g.medium"
    assert smallest_instance_for(GIB, architectures=("x86_64", "arm64")) == "ml.c8g.medium"
    assert smallest_instance_for(3 * GIB, architectures=("x86_64", "arm64")) == "ml.m8g.medium"
    with pytest.raises(ValueError, match="unknown architecture"):
        smallest_instance_for(GIB, architectures=("aarch64",))


def test_smallest_instance_counts_one_worker_per_vcpu() -> None:
    # 1 GiB + 2 x 2 GiB = 5 GiB: no 4 GiB type fits, ml.t2.large (2 vCPU, 8 GiB) does; the
    # 4-vCPU 8 GiB types would need 9 GiB.
    assert smallest_instance_for(GIB, per_vcpu_bytes=2 * GIB) == "ml.t2.large"
    assert smallest_instance_for(GIB, per_vcpu_bytes=2 * GIB, include_burstable=False) == "ml.m5.large"


def test_memory_that_fits_nowhere_gives_none() -> None:
    largest = max(row.memory_bytes for row in instance_types())
    assert smallest_instance_for(largest + 1) is None
    assert smallest_instance_for(largest + 1, architectures=("arm64",)) is None
    assert realtime_instance_for(64 * GIB) is None
    with pytest.raises(ValueError, match="negative"):
        smallest_instance_for(-1)


def test_realtime_sizing_adds_the_model_server_once_and_a_worker_per_vcpu() -> None:
    # A 1.5 GiB worker: 0.5 GiB + 2 x 1.5 GiB = 3.5 GiB fits the 2-vCPU 4 GiB types.
    assert realtime_instance_for(3 * GIB // 2) == "ml.t2.medium"
    assert realtime_instance_for(3 * GIB // 2, include_burstable=False) == "ml.c5.large"
    # A 2 GiB worker no longer fits 4 GiB: the next are the 2-vCPU 8 GiB types.
    assert realtime_instance_for(2 * GIB) == "ml.t2.large"
    assert MODEL_SERVER_ALLOWANCE_BYTES + 2 * 2 * GIB > 4 * GIB


# ---- the instance catalog, as the sizing sees it -----------------------------------------------------

GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")  # c6g, c7g, m6g, r6g ... (not c6i, m7i)
REQUIRED = {
    "ml.t2.medium", "ml.c5.large", "ml.c5.xlarge", "ml.c5.2xlarge", "ml.c6i.large", "ml.c6i.xlarge",
    "ml.c7g.large", "ml.c7g.xlarge", "ml.m5.large", "ml.m5.xlarge", "ml.m6i.large", "ml.m6g.large",
    "ml.m7i.large", "ml.r5.large",
}  # fmt: skip


def test_every_instance_has_vcpus_memory_architecture_and_source() -> None:
    rows = instance_types()
    assert {row.name for row in rows} >= REQUIRED
    for row in rows:
        family = limits.instance_family(row.name)
        assert row.vcpus > 0
        assert row.memory_gib > 0
        assert row.architecture == ("arm64" if GRAVITON_FAMILY.match(family) else "x86_64"), row
        assert row.spec_source.startswith("https://aws.amazon.com/ec2/instance-types/"), row


def test_every_instance_is_a_sagemaker_hosting_type() -> None:
    hosting = set(limits.hosting_instance_types())
    assert [row.name for row in instance_types() if row.name not in hosting] == []


def test_the_catalog_file_is_packaged() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "instance_catalog.json" in pyproject["tool"]["setuptools"]["package-data"]["endpoint_configs"]


def test_a_malformed_row_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = json.loads(instance_catalog.CATALOG_PATH.read_text(encoding="utf-8"))
    del document["instances"][0]["spec_source"]
    broken = tmp_path / "instance_catalog.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setattr(instance_catalog, "CATALOG_PATH", broken)
    instance_catalog._catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match=r"instances\[0\].*spec_source"):
            instance_types()
    finally:
        monkeypatch.undo()
        instance_catalog._catalog.cache_clear()


# ---- the report -------------------------------------------------------------------------------------


def make_row(variant: str, **changes: object) -> VariantRow:
    peak = 127 * MIB if variant.startswith("onnx") else 674 * MIB
    imports_torch = variant.startswith("torch")
    worker = worker_memory_bytes(peak, imports_torch=imports_torch)
    row = VariantRow(
        variant=variant,
        description=f"{variant} (hand-made)",
        artifact_dir=f"/tmp/{variant}",
        artifact_bytes=22 * MIB if variant == "onnx-int8" else 87 * MIB,
        artifact_tar_gz_bytes=17 * MIB if variant == "onnx-int8" else 80 * MIB,
        cold_start_seconds=0.23 if variant.startswith("onnx") else 3.8,
        cold_start_runs=[0.24, 0.23, 0.22],
        cold_start_others_share=0.0,
        cold_start_phases={"import": 0.05, "load": 0.1, "first_answer": 0.01},
        rss_after_imports_bytes=26 * MIB,
        rss_after_load_bytes=113 * MIB if variant.startswith("onnx") else 521 * MIB,
        peak_rss_bytes=peak,
        imports_torch=imports_torch,
        latency_batch1_seconds=0.001,
        latency_batch32_seconds=0.040 if variant == "onnx-int8" else 0.118,
        sentences_per_second_batch32=800.0 if variant == "onnx-int8" else 271.0,
        others_cpu_share=0.01,
        cosine_mean=0.9925,
        cosine_min=0.9727,
        cosine_batch1_mean=0.9925,
        cosine_batch1_min=0.9727,
        cosine_batch32_mean=0.9925,
        cosine_batch32_min=0.9727,
        worker_memory_bytes=worker,
        serving_memory_bytes=MODEL_SERVER_ALLOWANCE_BYTES + worker,
        serverless_memory_mb=serverless_memory_size_mb(MODEL_SERVER_ALLOWANCE_BYTES + worker),
        realtime_instance="ml.t2.medium",
        realtime_instance_steady=None,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def make_report(*rows: VariantRow) -> CompressionReport:
    return CompressionReport(
        model_dir="/models/all-MiniLM-L6-v2",
        probe_file="examples/minilm/probes.txt",
        probe_count=53,
        threads=2,
        repeats=20,
        cold_runs=3,
        rows=list(rows or (make_row("torch-fp32"), make_row("onnx-int8"))),
        measured_torch_import_bytes=219 * MIB,
        environment={"python": "3.11", "onnxruntime": "1.32.0"},
        notes=["a note"],
    )


def test_report_json_has_every_field_and_round_trips() -> None:
    report = make_report()
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {f.name for f in fields(CompressionReport)}
    assert [row["variant"] for row in data["rows"]] == ["torch-fp32", "onnx-int8"]
    assert set(data["rows"][0]) == {f.name for f in fields(VariantRow)}
    int8 = data["rows"][1]
    assert int8["artifact_bytes"] == 22 * MIB
    assert int8["serverless_memory_mb"] == 1024  # 127 MiB + 256 MiB torch + 512 MiB allowance
    assert int8["realtime_instance_steady"] is None
    assert data["model_server_allowance_bytes"] == MODEL_SERVER_ALLOWANCE_BYTES
    assert data["measured_torch_import_bytes"] == 219 * MIB
    assert report.row("onnx-int8").sentences_per_second_batch32 == 800.0
    with pytest.raises(KeyError, match="torch-int8 was not measured"):
        report.row("torch-int8")


def test_print_report_as_json_prints_the_dict(capsys: pytest.CaptureFixture[str]) -> None:
    report = make_report()
    print_report(report, as_json=True)
    assert json.loads(capsys.readouterr().out) == report.to_dict()


def test_tables_render(capsys: pytest.CaptureFixture[str]) -> None:
    report = make_report(
        make_row("torch-fp32"),
        make_row("torch-int8", serverless_memory_mb=None, realtime_instance=None),
        make_row("onnx-int8"),
    )
    tables = report_tables(report)
    assert [headers for _, headers, _, _ in tables] == [list(SPEED_HEADERS), list(MEMORY_HEADERS)]
    for _, headers, body, _ in tables:
        assert all(len(line) == len(headers) for line in body)
    print_report(report, as_json=False)
    out = capsys.readouterr().out
    for expected in ("torch-fp32", "torch-int8", "onnx-int8", "3.95x", "none fits", "a note", "1024"):
        assert expected in out


def test_the_benchmark_goals_read_the_report() -> None:
    report = make_report()
    assert [goal.passed for goal in goals(report)] == [True, True, True, True, True]
    slow = make_report(make_row("torch-fp32"), make_row("onnx-int8", cold_start_seconds=0.6, cosine_min=0.9))
    assert [goal.passed for goal in goals(slow)] == [True, True, False, False, True]


# ---- sizes of folders -------------------------------------------------------------------------------


def test_artifact_size_counts_what_build_artifact_packages(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\0" * 1000)
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").write_text("docs", encoding="utf-8")
    (tmp_path / ".gitattributes").write_text("*.onnx lfs", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in packaged_files(tmp_path)] == [
        "1_Pooling/config.json",
        "model.onnx",
    ]
    assert folder_bytes(tmp_path) == 1002
    assert 0 < tar_gz_bytes(tmp_path) < 1002 + 3 * 512  # zeros compress; tar headers are 512 bytes
