"""Command line for building, optimizing and uploading model artifacts.

    python -m model_packaging build --model-dir DIR --code-dir DIR [--out build/artifacts]
                                    [--format auto|tar.gz|uncompressed] [--uncompressed-above-gb N]
                                    [--requirements FILE] [--input-shapes JSON]
    python -m model_packaging build --env dev          # what synth deploys for endpoint_configs/dev.yaml
    python -m model_packaging optimize --env dev [--report [--json]]
    python -m model_packaging optimize --model-dir DIR --code-dir DIR --probe-file FILE
                                       [--method onnx-int8|onnx-fp32] [--min-mean 0.99] [--min 0.95]
    python -m model_packaging upload ARTIFACT (--bucket NAME | --env dev) [--prefix models]

``--input-shapes`` (or ``model.compilation`` in the environment) builds the Neo-ready input: the
model traced to TorchScript with those shapes, as ``tar.gz``. ``--env`` builds exactly what synth
deploys: optimized (``model.optimization``) or traced, with the requirements vendored as wheels for
the serving images. ``optimize --report`` also measures the original and the optimized variants
(size, memory, cold start, latency, throughput, accuracy) and sizes serverless memory and instances.

Errors print one message and exit 1, with no traceback and no partial artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from endpoint_configs.errors import ConfigError
from endpoint_configs.optimization import OPTIMIZATION_METHODS
from model_packaging.build import DEFAULT_UNCOMPRESSED_ABOVE_BYTES, BuiltArtifact, build_artifact
from model_packaging.environment import BuildInputs
from model_packaging.errors import PackagingError, aws_error_message
from model_packaging.neo import COMPILER_OPTIONS, build_neo_input, data_input_config, parse_input_shapes
from model_packaging.sources import DEFAULT_EXCLUDED, resolve_source_dir
from model_packaging.upload import upload_artifact

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PROJECT_ROOT / "build" / "artifacts"


def _build_env(env: str) -> BuiltArtifact:
    """What synth deploys for ``env`` (the same cache): ``ConfigError`` naming the file and field."""
    from endpoint_configs import load_environment_config
    from model_packaging.environment import build_environment_artifact

    config = load_environment_config(env)
    if config.model.artifact.build is None:
        raise PackagingError(f"endpoint_configs/{env}.yaml has no model.artifact.build block to build")
    return build_environment_artifact(
        config, project_root=PROJECT_ROOT, source=f"endpoint_configs/{env}.yaml"
    )


def _bucket_from_env(env: str) -> str:
    """The artifact bucket of a deployed environment, from its stateful stack's named export."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from endpoint_configs import load_environment_config

    config = load_environment_config(env)
    export = config.stateful_exports.bucket_name
    cloudformation = boto3.client("cloudformation", region_name=config.region)
    try:
        for page in cloudformation.get_paginator("list_exports").paginate():
            for item in page["Exports"]:
                if item["Name"] == export:
                    return str(item["Value"])
    except (BotoCoreError, ClientError) as error:
        raise PackagingError(aws_error_message(error, doing=f"looking up export {export}")) from None
    raise PackagingError(f"no export {export} in {config.region}: deploy the stateful stack of '{env}' first")


def _build(args: argparse.Namespace) -> int:
    folder_options = (args.model_dir, args.code_dir, args.requirements, args.input_shapes)
    if args.env and (any(folder_options) or args.exclude is not None):
        raise PackagingError(
            "give --env, or --model-dir with --code-dir (and --exclude, --requirements, --input-shapes), "
            f"not both: --env builds what endpoint_configs/{args.env}.yaml names"
        )
    if args.env:
        if args.format != "auto":
            raise PackagingError("--env builds what synth deploys (tar.gz): leave out --format")
        built = _build_env(args.env)
        return _print_built(built, args.print_path)
    if args.model_dir and args.code_dir:
        inputs = BuildInputs(
            model_dir=resolve_source_dir(args.model_dir),
            code_dir=resolve_source_dir(args.code_dir),
            excluded=list(DEFAULT_EXCLUDED) if args.exclude is None else [p for p in args.exclude if p],
            requirements=args.requirements,
            input_shapes=None if args.input_shapes is None else parse_input_shapes(args.input_shapes),
        )
    else:
        raise PackagingError("give --env, or both --model-dir and --code-dir")
    if inputs.input_shapes is not None:
        if args.format == "uncompressed":
            raise PackagingError(
                "a Neo input is one tar.gz (Neo reads an archive): leave out --format uncompressed"
            )
        built = build_neo_input(
            inputs.model_dir,
            inputs.code_dir,
            args.out,
            input_shapes=inputs.input_shapes,
            excluded=inputs.excluded,
            requirements=inputs.requirements,
        )
    else:
        built = build_artifact(
            inputs.model_dir,
            inputs.code_dir,
            args.out,
            artifact_format=args.format,
            uncompressed_above_bytes=int(args.uncompressed_above_gb * 1024**3),
            show_progress=not args.print_path,
            excluded=inputs.excluded,
            requirements=inputs.requirements,
        )
    _print_built(built, args.print_path)
    if inputs.input_shapes is not None and not args.print_path:
        print(
            f"neo       DataInputConfig {data_input_config(inputs.input_shapes)}, CompilerOptions "
            f"{json.dumps(COMPILER_OPTIONS)}"
        )
    return 0


def _print_built(built: BuiltArtifact, print_path: bool) -> int:
    if print_path:
        print(built.path)
        return 0
    facts = built.manifest.model
    parameters = f"{facts.parameter_count:,}" if facts.parameter_count is not None else "unknown"
    print(f"artifact  {built.path}")
    print(f"manifest  {built.manifest_path}")
    print(f"sha256    {built.manifest.sha256}")
    files_mib = built.manifest.total_file_bytes / 1024**2
    print(f"size      {built.manifest.size / 1024**2:.1f} MiB ({files_mib:.1f} MiB of files)")
    print(f"model     {parameters} parameters, dtypes {facts.dtypes or 'unknown'}")
    print(f"memory    about {facts.estimated_serving_memory_bytes / 1024**3:.1f} GiB to serve")
    dependencies = built.manifest.dependencies
    if dependencies:
        wheels = dependencies["wheels"]
        pythons = ", ".join(f"Python {i['python']} {i['machine']}" for i in dependencies["interpreters"])
        print(f"wheels    {len(wheels)} vendored in code/wheels for {pythons} (install offline)")
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from model_packaging.optimize import AccuracyThresholds, build_optimized_cached

    if args.env:
        if args.model_dir or args.code_dir or args.probe_file:
            raise PackagingError("give --env, or --model-dir with --code-dir and --probe-file, not both")
        from endpoint_configs import load_environment_config

        config = load_environment_config(args.env)
        if config.model.optimization is None:
            raise PackagingError(
                f"endpoint_configs/{args.env}.yaml has no model.optimization block: add one "
                "(method, probe_file) or give --model-dir, --code-dir and --probe-file"
            )
        built = _build_env(args.env)
        assert config.model.artifact.build is not None  # _build_env checked it
        model_dir = resolve_source_dir(config.model.artifact.build.model_dir, base=PROJECT_ROOT)
        probe_file = resolve_source_dir(config.model.optimization.probe_file, base=PROJECT_ROOT)
    elif args.model_dir and args.code_dir and args.probe_file:
        model_dir, probe_file = resolve_source_dir(args.model_dir), Path(args.probe_file)
        built = build_optimized_cached(
            model_dir,
            resolve_source_dir(args.code_dir),
            args.out,
            method=args.method,
            probe_file=probe_file,
            thresholds=AccuracyThresholds(mean=args.min_mean, minimum=args.min),
            requirements=args.requirements,
        )
    else:
        raise PackagingError("give --env, or --model-dir, --code-dir and --probe-file")
    if not args.json:
        _print_built(built, print_path=False)
        accuracy = built.manifest.optimization
        if accuracy:
            print(
                f"accuracy  {accuracy['method']}: mean cosine {accuracy['mean_cosine']:.4f}, minimum "
                f"{accuracy['min_cosine']:.4f} over {accuracy['probes']} probes (gate passed)"
            )
    if args.report:
        from model_packaging.compression_report import measure_variants, print_report

        work = args.out / ".report"
        report = measure_variants(model_dir, probe_file=probe_file, work_dir=work, threads=args.threads)
        print_report(report, as_json=args.json)
    elif args.json:
        print(
            json.dumps({"artifact": str(built.path), "optimization": built.manifest.optimization}, indent=2)
        )
    return 0


def _upload(args: argparse.Namespace) -> int:
    bucket = args.bucket or _bucket_from_env(args.env)
    result = upload_artifact(Path(args.artifact), bucket=bucket, prefix=args.prefix)
    print(("uploaded " if result.uploaded else "already there, skipped ") + result.uri)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_packaging", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build", help="build model.tar.gz (or an uncompressed folder) and its manifest"
    )
    build.add_argument("--env", help="build what endpoint_configs/<env>.yaml's model.artifact.build names")
    build.add_argument("--model-dir", help="model files; a path or pkg://<package>/<folder>")
    build.add_argument("--code-dir", help="folder with inference.py (and requirements.txt)")
    build.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/artifacts)"
    )
    build.add_argument("--format", choices=("auto", "tar.gz", "uncompressed"), default="auto")
    build.add_argument("--print-path", action="store_true", help="print only the artifact's path")
    build.add_argument(
        "--requirements",
        type=Path,
        metavar="FILE",
        help="package FILE as code/requirements.txt instead of the code folder's own",
    )
    build.add_argument(
        "--input-shapes",
        metavar="JSON",
        help='build the Neo input: trace with these shapes, e.g. \'{"input_ids": [1, 128], '
        '"attention_mask": [1, 128]}\'',
    )
    build.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help=f"leave out file names matching PATTERN (repeatable; default {' '.join(DEFAULT_EXCLUDED)}; "
        "--exclude '' packages everything)",
    )
    build.add_argument(
        "--uncompressed-above-gb",
        type=float,
        default=DEFAULT_UNCOMPRESSED_ABOVE_BYTES / 1024**3,
        help="auto format: stay uncompressed above this many GiB (default 10)",
    )
    optimize = commands.add_parser(
        "optimize", help="export to ONNX (int8), check accuracy, build the artifact; --report measures"
    )
    optimize.add_argument("--env", help="optimize as endpoint_configs/<env>.yaml's model.optimization says")
    optimize.add_argument("--model-dir", help="model files; a path or pkg://<package>/<folder>")
    optimize.add_argument("--code-dir", help="folder with inference.py (and requirements.txt)")
    optimize.add_argument("--probe-file", help="probe sentences, one per line, for the accuracy gate")
    optimize.add_argument("--method", choices=OPTIMIZATION_METHODS, default=OPTIMIZATION_METHODS[0])
    optimize.add_argument("--min-mean", type=float, default=0.99, help="least mean cosine (default 0.99)")
    optimize.add_argument("--min", type=float, default=0.95, help="least cosine of any probe (default 0.95)")
    optimize.add_argument("--requirements", type=Path, metavar="FILE", help="as for build")
    optimize.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/artifacts)"
    )
    optimize.add_argument(
        "--report",
        action="store_true",
        help="also measure fp32/int8 torch and fp32/int8 ONNX (a minute or two)",
    )
    optimize.add_argument("--threads", type=int, default=2, help="CPU threads for --report (default 2)")
    optimize.add_argument("--json", action="store_true", help="print JSON instead of tables")
    upload = commands.add_parser("upload", help="upload a built artifact under its hash, once")
    upload.add_argument("artifact", help="model-<hash>.tar.gz or model-<hash>/ built by this tool")
    target = upload.add_mutually_exclusive_group(required=True)
    target.add_argument("--bucket", help="bucket name")
    target.add_argument("--env", help="the artifact bucket of this deployed environment")
    upload.add_argument("--prefix", default="models", help="key prefix (default models)")
    args = parser.parse_args(argv)
    try:
        commands_by_name = {"build": _build, "optimize": _optimize, "upload": _upload}
        return commands_by_name[args.command](args)
    except (PackagingError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
