"""The command line: app.py under the real cdk CLI, and ``python -m endpoint_configs``.

Bad input gives one message (file, field, value, what is allowed), a non-zero exit, no Python
traceback and no synthesized template.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CDK = REPO / "node_modules" / ".bin" / "cdk"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env},
    )


def _app(tmp_path: Path, **context: str) -> subprocess.CompletedProcess[str]:
    """Run app.py the way the cdk CLI does: context as JSON, output folder in CDK_OUTDIR."""
    base = json.loads((REPO / "cdk.json").read_text())["context"]
    return _run(
        [sys.executable, "app.py"],
        CDK_CONTEXT_JSON=json.dumps({**base, **context}),
        CDK_OUTDIR=str(tmp_path),
    )


def _templates(folder: Path) -> list[Path]:
    return list(folder.glob("*.template.json")) if folder.exists() else []


def test_unknown_environment_lists_the_environments(tmp_path: Path) -> None:
    # GIVEN -c env=qa, WHEN the app runs
    result = _app(tmp_path, env="qa")
    # THEN one message, exit 2, no traceback, nothing synthesized
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "environment (cdk -c env=... -c endpoint_type=..., or make ENV=... ENDPOINT_TYPE=...): 1 problem",
        "  - env = 'qa': unknown environment; allowed: dev, llm, llm-large, neo, prod, staging",
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert _templates(tmp_path) == []


def test_endpoint_type_the_environment_does_not_offer_lists_what_it_offers(tmp_path: Path) -> None:
    result = _app(tmp_path, env="prod", endpoint_type="serverless")
    assert result.returncode == 2
    assert "endpoint_type = 'serverless': not offered by 'prod'; allowed: realtime, async" in result.stderr
    assert "Traceback" not in result.stderr
    assert _templates(tmp_path) == []


def test_mistyped_context_key_is_rejected_with_the_flag_it_resembles(tmp_path: Path) -> None:
    # GIVEN -c endpoint-type=async (a hyphen), which the app used to ignore and deploy realtime
    result = _app(tmp_path, env="dev", **{"endpoint-type": "async"})
    # THEN it names the key, suggests endpoint_type, and synthesizes nothing
    assert result.returncode == 2
    assert (
        "  - endpoint-type = 'async': unknown context key; did you mean endpoint_type? "
        "allowed: env, endpoint_type, local_aws" in result.stderr.splitlines()
    )
    assert _templates(tmp_path) == []


def test_app_synthesizes_the_requested_endpoint_type(tmp_path: Path) -> None:
    result = _app(tmp_path, env="dev", endpoint_type="serverless")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in _templates(tmp_path)) == [
        "minilm-embeddings-dev-serverless.template.json",
        "minilm-embeddings-dev-stateful.template.json",
    ]


@pytest.mark.slow
def test_cdk_cli_synth_reports_a_bad_flag_without_a_traceback(tmp_path: Path) -> None:
    # GIVEN the pinned cdk CLI, WHEN run with an unknown environment
    result = _run([str(CDK), "synth", "--quiet", "-c", "env=qa", "--output", str(tmp_path / "out")])
    # THEN it fails with our message and writes no template
    assert result.returncode != 0
    assert (
        "env = 'qa': unknown environment; allowed: dev, llm, llm-large, neo, prod, staging" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert _templates(tmp_path / "out") == []


@pytest.mark.slow
def test_cdk_cli_synthesizes_the_default_endpoint_type_through_cdk_json(tmp_path: Path) -> None:
    result = _run([str(CDK), "synth", "--quiet", "-c", "env=staging", "--output", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in _templates(tmp_path / "out")) == [
        "minilm-embeddings-staging-realtime.template.json",
        "minilm-embeddings-staging-stateful.template.json",
    ]
    # synth prints the deployed option's cost estimate, or why there is none
    assert "cost estimate: none (endpoints[0].variants[0].instance_type: no price for ml.c6i.xlarge" in (
        result.stderr
    )


def test_validate_command_reports_every_problem_of_a_bad_file(tmp_path: Path) -> None:
    # GIVEN a config with an unknown key and an out-of-range value
    text = (REPO / "endpoint_configs" / "dev.yaml").read_text()
    text = text.replace("max_capacity: 2", "max_capacity: 2\n          colour: blue")
    text = text.replace("initial_instance_count: 1", "initial_instance_count: 1\n        volume_size_gb: 900")
    (tmp_path / "dev.yaml").write_text(text)
    # WHEN validated
    result = _run([sys.executable, "-m", "endpoint_configs", "validate", "--config-dir", str(tmp_path)])
    # THEN one message names the file and both problems
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].endswith("dev.yaml: 2 problems")
    assert (
        "  - endpoints[0].variants[0].volume_size_gb = 900: Input should be less than or equal to 512"
        in lines
    )
    assert any(
        line.startswith("  - endpoints[0].variants[0].autoscaling.colour: unknown key") for line in lines
    )
    assert "Traceback" not in result.stderr


def _config_dir(tmp_path: Path, **edits: tuple[str, str]) -> Path:
    """Copies of the shipped configs in ``tmp_path``, with ``env=(old, new)`` text replaced."""
    for source in (REPO / "endpoint_configs").glob("*.yaml"):
        text = source.read_text()
        old, new = edits.get(source.stem, ("", ""))
        if old:
            assert old in text
            text = text.replace(old, new)
        (tmp_path / source.name).write_text(text)
    return tmp_path


def test_validate_without_env_checks_every_file(tmp_path: Path) -> None:
    # GIVEN prod.yaml broken and dev.yaml fine
    folder = _config_dir(tmp_path, prod=("initial_instance_count: 2", "initial_instance_count: 0"))
    # WHEN validated without --env
    result = _run([sys.executable, "-m", "endpoint_configs", "validate", "--config-dir", str(folder)])
    # THEN dev passes, prod fails, and so does the command
    assert result.returncode == 1
    assert "dev: ok" in result.stdout
    assert "prod.yaml: 1 problem" in result.stderr


def test_make_validate_checks_every_file_unless_env_is_given() -> None:
    every = _run(["make", "--no-print-directory", "-n", "validate"]).stdout.splitlines()[-1]
    one = _run(["make", "--no-print-directory", "-n", "validate", "ENV=prod"]).stdout.splitlines()[-1]
    assert "--env" not in every
    assert "endpoint_configs validate --env prod" in one


@pytest.mark.parametrize(
    ("env", "edit", "expected"),
    [
        (
            # staging serves the fp32 torch model (dev's int8 ONNX model fits in 1024 MB)
            "staging",
            ("memory_size_mb: 2048", "memory_size_mb: 1024"),
            "endpoints[1].memory_size_mb = 1024: the packaged model needs about",
        ),
        (
            "dev",
            ("code_dir: examples/minilm/code", "code_dir: examples/minilm/no-such-code"),
            "model.artifact.build: code directory /",
        ),
        (
            # dev's always-on ml.m5.large costs $0.115 x 730 h a month
            "dev",
            ("monthly_limit_usd: 150", "monthly_limit_usd: 50"),
            "budget.monthly_limit_usd = 50.0: the realtime endpoint (real-time ml.m5.large x1) is "
            "estimated at $83.95/month",
        ),
    ],
    ids=["serverless-memory-below-estimate", "missing-code-dir", "estimate-over-budget"],
)
def test_validate_rejects_what_synth_rejects(
    tmp_path: Path, env: str, edit: tuple[str, str], expected: str
) -> None:
    # GIVEN a file that parses but cannot deploy, WHEN validated, THEN the synth check fails
    folder = _config_dir(tmp_path, **{env: edit})
    result = _run(
        [sys.executable, "-m", "endpoint_configs", "validate", "--config-dir", str(folder), "--env", env]
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_command_reports_a_missing_file(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "endpoint_configs", "validate", "--env", "qa"])
    assert result.returncode == 1
    assert "no such environment file; allowed: dev, llm, llm-large, neo, prod, staging" in result.stderr


def test_schema_file_is_current() -> None:
    result = _run([sys.executable, "-m", "endpoint_configs", "schema", "--check"])
    assert result.returncode == 0, result.stderr


def test_cdk_json_sets_every_feature_flag_cdk_init_recommends() -> None:
    # cdk init writes aws-cdk-lib's recommended flags into cdk.json; a flag left unset makes every
    # synth print "N feature flags are not configured".
    import tarfile

    import aws_cdk

    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        recommended = json.load(member)
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assert {flag: context.get(flag) for flag in recommended} == recommended


def test_kinds_command_lists_what_an_environment_offers() -> None:
    result = _run([sys.executable, "-m", "endpoint_configs", "kinds", "--env", "prod"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["realtime", "async"]


def test_make_destroy_destroys_each_kind_then_the_stateful_stack() -> None:
    commands = _run(["make", "--no-print-directory", "-n", "destroy", "ENV=prod"]).stdout
    loop = commands.index("endpoint_configs kinds --env prod")
    stateful = commands.index('destroy --exclusively -c env=prod "*-prod-stateful"')
    assert loop < stateful
    assert 'destroy -c env=prod -c endpoint_type=$kind "*-prod-$kind"' in commands
