"""How much slower is synthesizing our stacks than synthesizing an empty CDK app?

Run from the repository root: ``python -m benchmarks.synth [--repeat N]``.

What is measured, all with ``time.perf_counter`` inside one warm Python process:

* one-time costs, reported on their own and kept out of the comparison: ``import aws_cdk`` plus
  the first ``cdk.App()`` (starts the jsii Node.js runtime), importing ``stacks`` (loads the
  cdk-nag assembly), and the first synth of each kind. The first synth of any app loads CDK's
  CloudFormation validation engine, often the largest one-time cost; ``cdk synth`` pays all of
  these on every run because it starts a new process;
* **baseline**: ``cdk.App(outdir=tmp)`` with one empty ``cdk.Stack``, then ``app.synth()``;
* **ours**: one ``cdk.App(outdir=tmp)`` per (environment, endpoint type) from
  ``endpoint_configs.available_environments()`` and each config's ``offered_endpoint_types``,
  ``stacks.add_environment(app, config, endpoint_type)``, then ``app.synth()`` (which also runs the
  cdk-nag packs and CDK's built-in CloudFormation validation). The config is loaded once, outside
  the timer; the timer covers App construction, building the stacks and synthesis;
* **all**: per round, the sum of every "ours" app, i.e. synthesizing every environment once.

Each round runs the baseline and every "ours" app once, interleaved, so drift hits all of them
alike; ``--repeat`` rounds give the median and the minimum seconds per synth. Every synth writes
to a fresh temporary directory, removed afterwards (outside the timer).

Reading the ratio: ``ours / baseline`` is how many empty-app synths one of our apps costs, with the
fixed jsii start-up excluded from both. For "all" it is the time to synthesize every environment
over one empty-app synth. The median ratio is the typical cost; the min ratio is the least noisy.

``CDK_VALIDATION=false``: aws-cdk-lib 2.275 reads ``process.env.CDK_VALIDATION`` in the Node.js
process at synth time (``core/lib/private/synthesis-validation.js``:
``app._builtinCloudFormationValidation && process.env.CDK_VALIDATION !== "false"``). jsii copies
``os.environ`` into that process once, when ``aws_cdk`` is first imported, so setting the variable
later from Python has no effect. That variant therefore runs in a subprocess started with
``CDK_VALIDATION=false`` (same warm-up, same rounds); its ratios use its own baseline, and
"vs default" compares its median with the in-process median of the same row. Whether CDK's
CloudFormation validation ran is read back from each assembly's ``validation-report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import print_table

if TYPE_CHECKING:
    from endpoint_configs import EnvironmentConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline"
ALL = "all (summed)"
CFN_VALIDATE_PLUGIN = "CloudFormation Validate"
VALIDATION_ENV = {"CDK_VALIDATION": "false"}


@dataclass
class VariantResult:
    """Timings of one process: one-time costs and per-round seconds for every case."""

    one_time: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    stacks: dict[str, int] = field(default_factory=dict)
    cfn_validate_ran: bool = False


@dataclass(frozen=True)
class Row:
    case: str
    stacks: int
    median: float
    minimum: float
    ratio_median: float
    ratio_min: float
    vs_default: float | None = None


def _cfn_validate_ran(outdir: Path) -> bool:
    report = outdir / "validation-report.json"
    if not report.is_file():
        return False
    plugins = json.loads(report.read_text(encoding="utf-8")).get("pluginReports", [])
    return any(plugin.get("pluginName") == CFN_VALIDATE_PLUGIN for plugin in plugins)


def _synth_baseline(outdir: Path) -> float:
    import aws_cdk as cdk

    start = time.perf_counter()
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Empty")
    # An empty template gets a CloudFormation-validation warning printed on every synth; the
    # acknowledgment only keeps the output readable, validation still runs.
    cdk.Validations.of(stack).acknowledge(
        cdk.Acknowledgment(id="CloudFormation-Validate::F0001", reason="benchmark baseline is empty")
    )
    app.synth()
    return time.perf_counter() - start


def _synth_ours(outdir: Path, config: EnvironmentConfig, endpoint_type: str) -> float:
    import aws_cdk as cdk

    from app import PROJECT_ROOT, cdk_json_context
    from model_packaging.environment import prepare_artifact
    from stacks.environment import add_environment, locate_artifact  # loads cdk-nag: after start-up

    start = time.perf_counter()
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())
    add_environment(
        app,
        config,
        endpoint_type,
        artifact=locate_artifact(
            config.model.artifact,
            prepare_artifact(config, [endpoint_type], project_root=PROJECT_ROOT, source=endpoint_type),
        ),
    )
    app.synth()
    return time.perf_counter() - start


def _in_fresh_dir(parent: Path, synth: Callable[[Path], float]) -> tuple[float, int, bool]:
    """Run ``synth`` into a new directory under ``parent``.

    Returns the seconds, the number of templates written and whether CDK's CloudFormation
    validation ran.
    """
    outdir = Path(tempfile.mkdtemp(dir=parent))
    try:
        seconds = synth(outdir)
        return seconds, len(list(outdir.glob("*.template.json"))), _cfn_validate_ran(outdir)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def _ours_cases() -> list[tuple[str, EnvironmentConfig, str]]:
    from endpoint_configs import available_environments, load_environment_config

    cases = []
    for environment in available_environments():
        config = load_environment_config(environment)
        for endpoint_type in config.offered_endpoint_types:
            cases.append((f"{environment}/{endpoint_type}", config, endpoint_type))
    return cases


def measure(repeat: int) -> VariantResult:
    """All measurements of one process; must run before anything else imports ``aws_cdk``."""
    result = VariantResult()
    cases = _ours_cases()
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        parent = Path(tmp)

        start = time.perf_counter()
        import aws_cdk as cdk

        cdk.App(outdir=str(parent / "startup"))
        result.one_time["import aws_cdk + first App() (jsii start-up)"] = time.perf_counter() - start

        start = time.perf_counter()
        import stacks.environment  # noqa: F401  (timed: loads the cdk-nag assembly)

        result.one_time["import stacks.environment (cdk-nag assembly)"] = time.perf_counter() - start
        result.one_time["first baseline synth (warm-up)"], _, _ = _in_fresh_dir(parent, _synth_baseline)
        label, config, endpoint_type = cases[0]
        result.one_time[f"first {label} synth (warm-up)"], _, _ = _in_fresh_dir(
            parent, partial(_synth_ours, config=config, endpoint_type=endpoint_type)
        )

        for _ in range(repeat):
            seconds, templates, _ = _in_fresh_dir(parent, _synth_baseline)
            result.seconds.setdefault(BASELINE, []).append(seconds)
            result.stacks[BASELINE] = templates
            for label, config, endpoint_type in cases:
                seconds, templates, ran = _in_fresh_dir(
                    parent, partial(_synth_ours, config=config, endpoint_type=endpoint_type)
                )
                result.seconds.setdefault(label, []).append(seconds)
                result.stacks[label] = templates
                result.cfn_validate_ran |= ran
    labels = [label for label, _c, _t in cases]
    result.seconds[ALL] = [
        sum(per_round) for per_round in zip(*(result.seconds[x] for x in labels), strict=True)
    ]
    result.stacks[ALL] = sum(result.stacks[x] for x in labels)
    return result


def rows(result: VariantResult, default: VariantResult | None = None) -> list[Row]:
    base_median = statistics.median(result.seconds[BASELINE])
    base_min = min(result.seconds[BASELINE])
    out = []
    for case, seconds in result.seconds.items():
        median = statistics.median(seconds)
        vs_default = None
        if default is not None and case in default.seconds:
            vs_default = median / statistics.median(default.seconds[case])
        out.append(
            Row(
                case=case,
                stacks=result.stacks[case],
                median=median,
                minimum=min(seconds),
                ratio_median=median / base_median,
                ratio_min=min(seconds) / base_min,
                vs_default=vs_default,
            )
        )
    return out


def _run_worker(repeat: int) -> VariantResult:
    """Measure again in a subprocess started with ``CDK_VALIDATION=false``."""
    with tempfile.TemporaryDirectory(prefix="synth-bench-worker-") as tmp:
        output = Path(tmp) / "result.json"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.synth",
                "--repeat",
                str(repeat),
                "--worker-output",
                str(output),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **VALIDATION_ENV},
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"CDK_VALIDATION=false worker failed:\n{completed.stderr[-3000:]}")
        return VariantResult(**json.loads(output.read_text(encoding="utf-8")))


def _print_tables(title: str, result: VariantResult, default: VariantResult | None) -> None:
    headers = ["case", "stacks", "median s", "min s", "ratio med", "ratio min"]
    if default is not None:
        headers.append("vs default")
    body = []
    for row in rows(result, default):
        cells = [
            row.case,
            str(row.stacks),
            f"{row.median:.3f}",
            f"{row.minimum:.3f}",
            "-" if row.case == BASELINE else f"{row.ratio_median:.1f}x",
            "-" if row.case == BASELINE else f"{row.ratio_min:.1f}x",
        ]
        if default is not None:
            cells.append("-" if row.vs_default is None else f"{row.vs_default:.2f}x")
        body.append(cells)
    caption = [
        "ratio = ours / baseline (empty App + one empty Stack), medians and minimums, same process",
        f"CloudFormation validation ran during synth: {'yes' if result.cfn_validate_ran else 'no'}",
    ]
    if default is not None:
        caption.insert(1, "vs default = this median / the in-process (validation on) median of the same row")
    one_time = [[name, f"{seconds:.3f}"] for name, seconds in result.one_time.items()]
    print_table(f"{title}: one-time costs, not in the comparison", ["step", "seconds"], one_time, [])
    rounds = len(result.seconds[BASELINE])
    print_table(f"{title}: seconds per synth, {rounds} rounds", headers, body, caption)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per case (default: 3)")
    parser.add_argument("--worker-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.worker_output is not None:
        args.worker_output.write_text(json.dumps(asdict(measure(args.repeat))), encoding="utf-8")
        return 0

    start = time.perf_counter()
    default = measure(args.repeat)
    no_validation = _run_worker(args.repeat)
    _print_tables("default (in-process)", default, None)
    _print_tables("CDK_VALIDATION=false (subprocess, set before start)", no_validation, default)
    print(f"\nbenchmark run took {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
