"""Policy checks on every synthesized template: cdk-nag, cfn-lint, checkov; deterministic synth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cdk_nag
import pytest

from sagemaker_constructs.compliance import RULE_PACKS
from tests.conftest import REPO, TARGETS, SynthesizedEnvironment, synthesize

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def _templates(synth: SynthesizedEnvironment) -> list[Path]:
    return sorted(synth.outdir.glob("*.template.json"))


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("target", TARGETS, ids="-".join)
def test_cdk_nag_pack_finds_nothing_unacknowledged(
    synthesized_targets: dict[tuple[str, str], SynthesizedEnvironment],
    target: tuple[str, str],
    pack: type[cdk_nag.NagPack],
) -> None:
    report = pack().validate_scope(synthesized_targets[target].app)
    findings = [(v.rule_name, v.description) for v in report.violations]
    assert findings == []


def test_every_acknowledgment_gives_a_reason(
    synthesized_targets: dict[tuple[str, str], SynthesizedEnvironment],
) -> None:
    acknowledged: dict[str, str] = {}
    for construct in synthesized_targets["prod", "realtime"].app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for rule, reason in entry.data.items():
                    acknowledged[f"{construct.node.path} {rule}"] = reason
    assert len(acknowledged) == 7, sorted(acknowledged)
    for where, reason in acknowledged.items():
        assert len(reason) >= 40, where


@pytest.mark.parametrize("target", TARGETS, ids="-".join)
def test_cfn_lint_reports_nothing(
    synthesized_targets: dict[tuple[str, str], SynthesizedEnvironment], target: tuple[str, str]
) -> None:
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "cfn-lint"), *map(str, _templates(synthesized_targets[target]))],
        capture_output=True,
        text=True,
        check=False,
    )
    # 0: clean; 4: warnings only; 2 and up: errors. We keep warnings at zero too.
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov venv missing: run `make install`")
def test_checkov_fails_nothing_and_every_skip_has_a_reason(
    synthesized_targets: dict[tuple[str, str], SynthesizedEnvironment], tmp_path: Path
) -> None:
    # checkov given several -d folders scans the first one once per folder; give it one folder
    # holding every template instead.
    for (env, kind), synth in synthesized_targets.items():
        for template in _templates(synth):
            shutil.copy(template, tmp_path / f"{env}-{kind}-{template.name}")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path),
            "--framework",
            "cloudformation",
            "--skip-download",  # no call to the vendor's API: guidelines are not needed
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    reports = _json_documents(result.stdout)
    failed = [(f["check_id"], f["resource"]) for r in reports for f in r["results"]["failed_checks"]]
    skipped = [f for r in reports for f in r["results"]["skipped_checks"]]
    passed = sum(len(r["results"]["passed_checks"]) for r in reports)
    assert failed == []
    scanned = {
        check["file_path"].lstrip("/")
        for r in reports
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in r["results"][kind]
    }
    assert scanned == {p.name for p in tmp_path.iterdir()}
    assert passed > 50
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) >= 20, check["check_id"]


def _json_documents(text: str) -> list[Any]:
    """checkov prints one JSON document per scanned directory, back to back."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    index = 0
    while index < len(text.rstrip()):
        document, index = decoder.raw_decode(text, index)
        documents.extend(document if isinstance(document, list) else [document])
        while index < len(text) and text[index].isspace():
            index += 1
    return documents


def test_synth_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first = synthesize("prod", tmp_path / "first")
    second = synthesize("prod", tmp_path / "second")
    names = [p.name for p in _templates(first)]
    assert names == [p.name for p in _templates(second)]
    for name in names:
        assert (first.outdir / name).read_bytes() == (second.outdir / name).read_bytes(), name
