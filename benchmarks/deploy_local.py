"""Wall time of ``make deploy-local`` after install, against ``cdk synth`` of the same app.

Run from the repository root: ``python -m benchmarks.deploy_local [--env dev] [--endpoint-type default]``.

Measured in one run, each as the user would run it (new processes, the pinned cdk CLI):

* **cdk synth**: the baseline, what any CDK deploy pays before it talks to AWS;
* **start**: the local AWS launcher in the background until it answers;
* **first deploy**: ``cdk bootstrap``, ``cdk deploy`` of both stacks, the first invocation (which
  starts the model server) and the summary;
* **repeat deploy**: the same with nothing changed (the CLI reports "no changes");
* **destroy** and **stop**.

The ratio column is each step's time over ``cdk synth``: how much deploying locally adds to what
a synth already costs. The local AWS is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"


def _timed(label: str, command: list[str], results: list[tuple[str, float]]) -> None:
    environment = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    start = time.perf_counter()
    completed = subprocess.run(
        command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{label} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    results.append((label, seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deploy_local", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--env", default="dev")
    parser.add_argument("--endpoint-type", default="default")
    args = parser.parse_args(argv)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    local_aws = [sys.executable, "-m", "local_aws"]
    flags = ["--env", args.env, "--endpoint-type", args.endpoint_type]
    results: list[tuple[str, float]] = []
    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="synth-") as outdir:
        context = ["-c", f"env={args.env}", "-c", f"endpoint_type={args.endpoint_type}"]
        _timed("cdk synth", [str(CDK), "synth", "--quiet", "--output", outdir, *context], results)
    try:
        _timed("start local AWS", [*local_aws, "start", "--detach", "--port", port], results)
        _timed("first deploy (bootstrap + deploy + call)", [*local_aws, "deploy", *flags], results)
        _timed("repeat deploy (no changes + call)", [*local_aws, "deploy", *flags], results)
        _timed("destroy", [*local_aws, "destroy", *flags], results)
    finally:
        stop_start = time.perf_counter()
        subprocess.run([*local_aws, "stop"], cwd=PROJECT_ROOT, capture_output=True, check=False)
        results.append(("stop", time.perf_counter() - stop_start))
    baseline = results[0][1]
    print(f"deploy-local benchmark: env {args.env}, endpoint type {args.endpoint_type}, port {port}")
    print(f"{'step':<44}{'seconds':>9}{'x synth':>9}")
    for label, seconds in results:
        print(f"{label:<44}{seconds:>9.1f}{seconds / baseline:>9.2f}")
    deploy_local = sum(s for label, s in results if label.startswith(("start", "first")))
    print(
        f"{'make deploy-local on a fresh local AWS':<44}{deploy_local:>9.1f}{deploy_local / baseline:>9.2f}"
    )
    print(f"benchmark run took {time.perf_counter() - total_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
