"""Command line: ``python -m endpoint_configs validate [--env ENV] [--endpoint-type TYPE]`` and
``python -m endpoint_configs schema [--check]`` (writes or checks ``endpoint_configs/schema.json``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from endpoint_configs.environment import EnvironmentConfig
from endpoint_configs.errors import ConfigError
from endpoint_configs.loader import (
    CONFIG_DIR,
    available_environments,
    load_environment_config,
    resolve_endpoint_type,
)

SCHEMA_PATH = CONFIG_DIR / "schema.json"
PROJECT_ROOT = CONFIG_DIR.parent
"""Relative paths in a config's ``build`` block start here."""


def schema_text() -> str:
    schema = EnvironmentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SageMaker deployment environment"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _validate(environments: list[str], endpoint_type: str | None, config_dir: Path) -> int:
    """Everything synth checks about each environment: the file, the endpoint type, and the
    artifact it builds against every workload that serves it, and each workload's monthly cost
    estimate against the budget."""
    from cost_advisor.guard import check_deployed_cost, served_model
    from cost_advisor.llm_check import check_llm_serving, llm_model_size
    from model_packaging.environment import prepare_artifact  # builds are cached by content

    failed = False
    for env in environments:
        source = f"{config_dir.name}/{env}.yaml"
        try:
            config = load_environment_config(env, config_dir)
            chosen = resolve_endpoint_type(config, endpoint_type, source=f"{source} (endpoint type)")
            kinds = config.offered_endpoint_types
            built = prepare_artifact(config, kinds, project_root=PROJECT_ROOT, source=source)
            sizing = check_llm_serving(config, list(kinds), project_root=PROJECT_ROOT, source=source)
            model = served_model(built) or llm_model_size(config, project_root=PROJECT_ROOT)
            costs = [check_deployed_cost(config, k, model=model, source=source) for k in kinds]
        except ConfigError as error:
            print(error, file=sys.stderr)
            failed = True
            continue
        offered = ", ".join(config.offered_endpoint_types)
        print(f"{env}: ok (endpoint types: {offered}; selected: {chosen})")
        for line in sizing:
            print(f"  GPU sizing: {line}")
        for line in dict.fromkeys(cost.describe() for cost in costs):
            print(f"  {line}")
    return 1 if failed else 0


def _schema(check: bool, path: Path) -> int:
    text = schema_text()
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date: run 'make schema'", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m endpoint_configs")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate environment configs")
    validate.add_argument("--env", action="append", help="environment (default: all)")
    validate.add_argument("--endpoint-type", default=None, help="endpoint type to select")
    validate.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="folder of <env>.yaml files")
    schema = commands.add_parser("schema", help="write the JSON Schema for editors")
    schema.add_argument("--check", action="store_true", help="fail if schema.json is stale")
    catalogs = commands.add_parser(
        "catalogs", help="regenerate image_uris.json and service_tables.json from the pinned SDKs"
    )
    catalogs.add_argument("--check", action="store_true", help="fail if either file is stale")
    kinds = commands.add_parser("kinds", help="the workload kinds an environment offers, one per line")
    kinds.add_argument("--env", required=True, help="environment")
    args = parser.parse_args(argv)
    if args.command == "kinds":
        try:
            print("\n".join(load_environment_config(args.env).offered_endpoint_types))
        except ConfigError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if args.command == "validate":
        return _validate(
            args.env or available_environments(args.config_dir), args.endpoint_type, args.config_dir
        )
    if args.command == "catalogs":
        from endpoint_configs import image_catalog, service_catalog

        refresh = ["refresh", "--check"] if args.check else ["refresh"]
        return max(image_catalog.main(refresh), service_catalog.main(refresh))
    return _schema(args.check, SCHEMA_PATH)


if __name__ == "__main__":
    sys.exit(main())
