"""Command line.

``python -m cost_advisor advise (--env ENV | --manifest FILE | --parameters N --dtype D) [traffic
flags] [--region R] [--budget USD] [--json] [--plot FILE]``: every inference option's monthly cost
for the model and traffic, the cheapest eligible one and its config block. Traffic flags override
the environment's ``traffic:`` block; with ``--env`` and no model flags the model is the
environment's built artifact.

``python -m cost_advisor refresh-prices [--region R ...]``: rewrite the instance catalog's prices
from the AWS Price List API (needs credentials).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cost_advisor.advice import Advice, advise, estimate_deployed
from cost_advisor.llm_memory import LlmSizingError
from cost_advisor.model_size import BYTES_PER_DTYPE, ModelSize, ModelSizeError
from cost_advisor.options import AdvisorError, Catalog, default_catalog
from endpoint_configs import CONFIG_DIR, ConfigError, EnvironmentConfig, Problem, load_environment_config
from endpoint_configs.cost import BudgetConfig, TrafficProfile

DEFAULT_REGION = "us-east-1"
PROJECT_ROOT = CONFIG_DIR.parent
TRAFFIC_FLAGS = {
    "requests_per_day": "--requests-per-day",
    "peak_requests_per_second": "--peak-rps",
    "active_hours_per_day": "--active-hours",
    "active_days_per_week": "--active-days",
    "payload_kb": "--payload-kb",
    "response_kb": "--response-kb",
    "processing_ms": "--processing-ms",
    "tokens_per_request": "--tokens",
    "latency_target_ms": "--latency-ms",
}
"""TrafficProfile field -> flag."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cost_advisor")
    commands = parser.add_subparsers(dest="command", required=True)
    advise_cmd = commands.add_parser("advise", help="cost of each inference option, and the cheapest")
    advise_cmd.add_argument("--env", help="environment: its traffic: block, region, budget and model")
    advise_cmd.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    advise_cmd.add_argument("--manifest", type=Path, help="artifact manifest (*.manifest.json)")
    advise_cmd.add_argument("--parameters", type=float, help="parameter count, e.g. 7e9")
    advise_cmd.add_argument("--dtype", choices=sorted(BYTES_PER_DTYPE), help="weights' dtype")
    llm = advise_cmd.add_argument_group(
        "large language models", "size a generative model for GPUs from its config.json, KV cache included"
    )
    llm.add_argument("--model-config", type=Path, help="the model's Hugging Face config.json")
    llm.add_argument(
        "--weights",
        default=None,
        help="fp16, bf16, fp32, fp8, int8, eetq, nf4, awq, gptq (awq/gptq: pre-quantized weights only; "
        "default: the config's quantization, else its torch_dtype)",
    )
    llm.add_argument(
        "--max-total-tokens", type=int, default=4096, help="prompt + output per sequence (default 4096)"
    )
    llm.add_argument(
        "--concurrent-sequences", type=int, default=8, help="sequences in the KV cache at once (default 8)"
    )
    for field, flag in TRAFFIC_FLAGS.items():
        kind = int if field in ("active_days_per_week", "tokens_per_request") else float
        description = TrafficProfile.model_fields[field].description
        advise_cmd.add_argument(flag, dest=field, type=kind, help=description)
    advise_cmd.add_argument("--region", help=f"AWS region (default: the environment's, or {DEFAULT_REGION})")
    advise_cmd.add_argument("--budget", type=float, help="monthly budget in USD (default: the environment's)")
    advise_cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    advise_cmd.add_argument("--plot", type=Path, help="write a PNG of cost against requests per day")
    refresh = commands.add_parser("refresh-prices", help="rewrite prices from the AWS Price List API")
    refresh.add_argument("--region", action="append", help="region (repeatable; default: the catalog's)")
    return parser


def _traffic(args: argparse.Namespace, config: EnvironmentConfig | None) -> TrafficProfile:
    values: dict[str, Any] = {}
    if config is not None and config.traffic is not None:
        values = config.traffic.model_dump(exclude_unset=True)
    values.update({f: getattr(args, f) for f in TRAFFIC_FLAGS if getattr(args, f) is not None})
    source = f"traffic ({'endpoint_configs/' + config.environment + '.yaml and ' if config else ''}flags)"
    try:
        return TrafficProfile.model_validate(values)
    except ValidationError as error:
        raise ConfigError(source, [_flag_problem(e) for e in error.errors()]) from None


def _flag_problem(error: Any) -> Problem:
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = TRAFFIC_FLAGS.get(field, field)
    where = f"{flag} (traffic.{field})" if field in TRAFFIC_FLAGS else field
    if error["type"] == "missing":
        return Problem(where, "required: give the flag or set it in the traffic: block", has_value=False)
    message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(where, message, error.get("input"))


def _model(args: argparse.Namespace, config: EnvironmentConfig | None) -> ModelSize:
    if args.model_config is not None:
        if args.manifest is not None or args.parameters is not None:
            raise AdvisorError(
                "--model-config sizes the model itself: give it without --manifest or --parameters"
            )
        return _llm(args)
    if args.manifest is not None:
        return ModelSize.from_manifest_file(args.manifest)
    if args.parameters is not None or args.dtype is not None:
        if args.parameters is None or args.dtype is None:
            raise AdvisorError("--parameters and --dtype go together: give both")
        if not float(args.parameters).is_integer():
            raise AdvisorError(f"--parameters {args.parameters:g}: must be a whole number")
        return ModelSize.from_parameters(int(args.parameters), args.dtype)
    if config is None:
        raise AdvisorError("no model: give --env ENV, --manifest FILE, or --parameters N --dtype D")
    if config.model.artifact.build is None:
        raise AdvisorError(
            f"{config.environment}: the model is an S3 artifact with no size information here; give "
            "--manifest FILE or --parameters N --dtype D"
        )
    from model_packaging.environment import build_environment_artifact

    source = f"endpoint_configs/{config.environment}.yaml"
    built = build_environment_artifact(config, project_root=PROJECT_ROOT, source=source)
    return ModelSize.from_manifest(built.manifest, source=f"{source} (built artifact)")


def _llm(args: argparse.Namespace) -> ModelSize:
    from cost_advisor.llm_memory import LlmMemory, ModelArchitecture

    architecture = ModelArchitecture.from_file(args.model_config)
    weights = args.weights or (
        architecture.quantization.method if architecture.quantization else architecture.torch_dtype or "fp16"
    )
    memory = LlmMemory.estimate(
        architecture,
        dtype_or_quantization=weights,
        max_total_tokens=args.max_total_tokens,
        concurrent_sequences=args.concurrent_sequences,
    )
    return ModelSize.from_llm(memory, source=str(args.model_config))


def _budget(args: argparse.Namespace, config: EnvironmentConfig | None) -> float | None:
    if args.budget is not None:
        try:
            return BudgetConfig(monthly_limit_usd=args.budget).monthly_limit_usd
        except ValidationError as error:
            message = str(error.errors()[0]["msg"])
            raise ConfigError(
                "flags", [Problem("--budget (budget.monthly_limit_usd)", message, args.budget)]
            ) from None
    if config is not None and config.budget is not None:
        return config.budget.monthly_limit_usd
    return None


def print_table(title: str, headers: list[str], body: list[list[str]], caption: list[str]) -> None:
    """A rich table, as ``benchmarks/report.py`` prints them."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(caption=Text("\n".join(caption)), caption_justify="left", box=box.SIMPLE_HEAD)
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index == 1 else "left", overflow="fold")
    for line in body:
        table.add_row(*(Text(cell) for cell in line))
    console = Console()
    console.width = max(console.width, 120)  # not a terminal (piped): rich would assume 80
    console.print(f"\n{title}", style="bold", markup=False, highlight=False)
    console.print(table, markup=False)


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _print_advice(advice: Advice, *, budget: float | None, deployed: str | None) -> None:
    rows = []
    for option in sorted(advice.options, key=lambda o: (not o.eligible, o.monthly_usd or 0.0)):
        time = option.processing.describe() if option.processing else "-"
        why = "; ".join(option.notes if option.eligible else option.reasons)
        rows.append(
            [option.label, _money(option.monthly_usd) if option.eligible else "not eligible", time, why]
        )
    caption = [
        f"model: {advice.model.describe()}",
        "a month is 730 h; prices from the instance catalog (python -m cost_advisor refresh-prices)",
    ]
    print_table(
        f"Inference options in {advice.region}", ["option", "per month", "processing", "why"], rows, caption
    )
    chosen = advice.recommendation
    if chosen is None:
        return
    print(f"\nRecommended: {chosen.label}, about {_money(chosen.monthly_usd)}/month")
    if budget is not None:
        verdict = "within" if (chosen.monthly_usd or 0.0) <= budget else "OVER"
        print(f"Budget: {_money(budget)}/month: {verdict} budget")
    if deployed:
        print(f"Configured: {deployed}")
    print(f"\n{advice.config_block()}")


def _advise(args: argparse.Namespace, catalog: Catalog | None) -> int:
    config = load_environment_config(args.env, args.config_dir) if args.env else None
    profile = _traffic(args, config)
    budget = _budget(args, config)
    model = _model(args, config)
    region = args.region or (config.region if config else DEFAULT_REGION)
    catalog = catalog or default_catalog()
    advice = advise(
        profile, model, region=region, catalog=catalog, environment=config.environment if config else None
    )
    deployed = None
    if config is not None:
        configured = config.model_copy(update={"traffic": profile, "region": region})
        deployed = estimate_deployed(configured, config.default_endpoint_type, model=model, catalog=catalog)
    if args.plot is not None:
        from cost_advisor.plot import write_plot

        write_plot(advice, args.plot, catalog=catalog)
    if args.json:
        data = advice.to_dict()
        data["budget_usd"] = budget
        data["configured"] = (
            None
            if deployed is None
            else {
                "kind": deployed.kind,
                "monthly_usd": round(deployed.monthly_usd, 2),
                "describe": deployed.describe(),
            }
        )
        data["plot"] = None if args.plot is None else str(args.plot)
        print(json.dumps(data, indent=2))
    else:
        _print_advice(advice, budget=budget, deployed=deployed.describe() if deployed else None)
        if args.plot is not None:
            print(f"wrote {args.plot}")
    if advice.recommendation is None:
        print("no option meets this workload: see the reasons above", file=sys.stderr)
        return 1
    return 0


def _refresh(regions: list[str] | None) -> int:
    catalog: Any = importlib.import_module("endpoint_configs.instance_catalog")
    try:
        report = catalog.refresh_prices(regions or None)
    except ValueError as error:
        print(f"refresh-prices: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # botocore's credential and client errors, without a traceback
        print(f"refresh-prices: could not read the AWS Price List API: {error}", file=sys.stderr)
        return 1
    print("\n".join(report))
    print(f"wrote {catalog.CATALOG_PATH}")
    return 0


def main(argv: list[str] | None = None, *, catalog: Catalog | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "refresh-prices":
        return _refresh(args.region)
    try:
        return _advise(args, catalog)
    except (ConfigError, AdvisorError, ModelSizeError, LlmSizingError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
