"""How much slower is ``cdk synth`` of our app than of an empty CDK app, through the real CLI?

Run from the repository root: ``python -m benchmarks.synth_cli [--repeat N] [--env prod]
[--endpoint-type realtime]``.

What is measured, as a user runs it (wall clock around the whole command):

* **ours**: ``node_modules/.bin/cdk synth --quiet -c env=ENV -c endpoint_type=TYPE`` in the
  repository root, which starts ``.venv/bin/python app.py`` through ``cdk.json``;
* **empty**: the same CLI binary, same flags and environment, in a temporary directory holding an
  ``app.py`` with one ``cdk.Stack`` and one trivial resource (a ``CfnWaitConditionHandle``) and a
  ``cdk.json`` that runs it with the same ``.venv`` Python.

Both pay the same fixed costs: Node.js and the CLI starting, Python starting, ``import aws_cdk``
and the jsii runtime, the CLI reading the cloud assembly. The ratio ``ours / empty`` is therefore
the price of everything our app adds (configuration, cdk-nag, our constructs, image lookup).
Runs alternate (empty, ours, empty, ours, ...) so drift hits both alike, each into its own fresh
``--output`` directory, removed afterwards. The environment is this process's plus the variables
the Makefile exports (read from its ``export NAME := value`` lines).

Also measured: the import time of ``endpoint_configs.image_catalog`` against
``sagemaker.core.image_uris``, and the same plus one image lookup, each in a fresh Python process
(``time.perf_counter`` around the import inside the process, so interpreter start-up is excluded),
median of ``--import-repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import print_table

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
MAKEFILE_EXPORTS = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_CLI_NOTICES": "false",
}
TARGET_RATIO = 1.3

EMPTY_APP = textwrap.dedent(
    """\
    import aws_cdk as cdk

    app = cdk.App()
    stack = cdk.Stack(app, "Empty")
    cdk.CfnWaitConditionHandle(stack, "Placeholder")
    app.synth()
    """
)

LOOKUP = {
    "endpoint_configs.image_catalog": (
        "from endpoint_configs.image_catalog import retrieve_image_uri as lookup",
        "lookup(framework='pytorch', region='us-east-1', version='2.6', py_version='py312', "
        "instance_type='ml.g5.xlarge', base_framework_version=None)",
    ),
    "sagemaker.core.image_uris": (
        "from sagemaker.core.image_uris import retrieve",
        "retrieve(framework='pytorch', region='us-east-1', version='2.6', py_version='py312', "
        "instance_type='ml.g5.xlarge', image_scope='inference', base_framework_version=None)",
    ),
}


@dataclass(frozen=True)
class Timing:
    """Seconds of every run of one case."""

    case: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def minimum(self) -> float:
        return min(self.seconds)


def makefile_exports(makefile: Path = PROJECT_ROOT / "Makefile") -> dict[str, str]:
    """The variables the Makefile exports to every recipe (the fixed defaults if none are found)."""
    found = {}
    if makefile.is_file():
        for line in makefile.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^export\s+(\w+)\s*:?=\s*(.*?)\s*$", line)
            if match:
                found[match[1]] = match[2]
    return found or dict(MAKEFILE_EXPORTS)


def write_empty_app(directory: Path, python: Path) -> None:
    """A one-stack CDK app with its own ``cdk.json``, run by ``python``."""
    (directory / "app.py").write_text(EMPTY_APP, encoding="utf-8")
    (directory / "cdk.json").write_text(f'{{"app": "{python} app.py"}}\n', encoding="utf-8")


def synth_seconds(
    cwd: Path, flags: Sequence[str], env: Mapping[str, str], scratch: Path
) -> tuple[float, int]:
    """Wall seconds of one ``cdk synth --quiet`` into a fresh output directory, and its template count."""
    outdir = Path(tempfile.mkdtemp(prefix="cdk-out-", dir=scratch))
    try:
        command = [str(CDK), "synth", "--quiet", *flags, "--output", str(outdir)]
        start = time.perf_counter()
        completed = subprocess.run(
            command, cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed in {cwd} (exit {completed.returncode}):\n"
                f"{(completed.stderr or completed.stdout)[-3000:]}"
            )
        return seconds, len(list(outdir.glob("*.template.json")))
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def import_seconds(python: Path, module: str, *, lookup: bool, env: Mapping[str, str]) -> float:
    """Seconds to import ``module`` (and make one lookup) in a fresh Python process."""
    statement, call = LOOKUP[module]
    body = f"{statement}\n{call}" if lookup else statement
    script = (
        "import logging, time\n"
        "logging.disable(logging.CRITICAL)\n"
        "start = time.perf_counter()\n"
        f"{body}\n"
        "print(time.perf_counter() - start)\n"
    )
    completed = subprocess.run(
        [str(python), "-c", script],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"timing the import of {module} failed:\n{completed.stderr[-3000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="cdk synth runs per app (default: 5)")
    parser.add_argument(
        "--import-repeat", type=int, default=3, help="fresh processes per import (default: 3)"
    )
    parser.add_argument("--env", default="prod", help="environment to synthesize (default: prod)")
    parser.add_argument("--endpoint-type", default="realtime", help="endpoint type (default: realtime)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.import_repeat < 1:
        parser.error("--repeat and --import-repeat must be at least 1")
    if not CDK.exists():
        parser.error(f"{CDK.relative_to(PROJECT_ROOT)} is missing: run 'make install'")
    python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)

    exports = makefile_exports()
    env = {**os.environ, **exports}
    flags = ["-c", f"env={args.env}", "-c", f"endpoint_type={args.endpoint_type}"]
    ours_label = f"ours ({args.env}/{args.endpoint_type})"
    empty_label = "empty app (1 stack)"
    seconds: dict[str, list[float]] = {empty_label: [], ours_label: []}
    templates: dict[str, int] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="synth-cli-bench-") as tmp:
        scratch = Path(tmp)
        empty_dir = scratch / "empty-app"
        empty_dir.mkdir()
        write_empty_app(empty_dir, python)
        for _ in range(args.repeat):
            for label, cwd in ((empty_label, empty_dir), (ours_label, PROJECT_ROOT)):
                run_seconds, templates[label] = synth_seconds(cwd, flags, env, scratch)
                seconds[label].append(run_seconds)

    empty, ours = Timing(empty_label, seconds[empty_label]), Timing(ours_label, seconds[ours_label])
    body = [
        [
            t.case,
            str(templates[t.case]),
            f"{t.median:.2f}",
            f"{t.minimum:.2f}",
            " ".join(f"{s:.2f}" for s in t.seconds),
        ]
        for t in (empty, ours)
    ]
    ratio = ours.median / empty.median
    body.append(["ratio ours / empty", "", f"{ratio:.2f}x", f"{ours.minimum / empty.minimum:.2f}x", ""])
    print_table(
        f"cdk synth --quiet through {CDK.relative_to(PROJECT_ROOT)}, {args.repeat} runs each, interleaved",
        ["case", "stacks", "median s", "min s", "runs s"],
        body,
        [
            "wall seconds of the whole CLI command; each run into a fresh --output directory",
            f"environment: this shell's plus {', '.join(f'{k}={v}' for k, v in exports.items())}",
            f"target: median ratio <= {TARGET_RATIO}x ({'met' if ratio <= TARGET_RATIO else 'not met'})",
        ],
    )

    import_rows = []
    for lookup in (False, True):
        medians = {
            module: statistics.median(
                import_seconds(python, module, lookup=lookup, env=env) for _ in range(args.import_repeat)
            )
            for module in LOOKUP
        }
        catalog, sdk = medians["endpoint_configs.image_catalog"], medians["sagemaker.core.image_uris"]
        step = "import + 1 lookup" if lookup else "import"
        import_rows.append([step, f"{catalog:.3f}", f"{sdk:.3f}", f"{catalog / sdk:.2f}x"])
    print_table(
        f"image URI module, fresh process each, median of {args.import_repeat}",
        ["step", "image_catalog s", "sagemaker image_uris s", "ratio"],
        import_rows,
        [
            "ratio = endpoint_configs.image_catalog / sagemaker.core.image_uris",
            "importing endpoint_configs.image_catalog also runs the endpoint_configs package __init__",
        ],
    )
    print(f"\nbenchmark run took {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
