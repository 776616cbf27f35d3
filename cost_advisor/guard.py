"""The cost guard at synth: the deployed option's monthly estimate against the environment's budget.

``app.py`` (and ``python -m endpoint_configs validate``) call ``check_deployed_cost`` after the
artifact is built. With a ``traffic:`` block the estimate is returned for printing; when it exceeds
``budget.monthly_limit_usd`` and ``budget.acknowledge_over_budget`` does not say why, a
``ConfigError`` at ``budget.monthly_limit_usd`` names the estimate, the limit and the cheaper
options, and nothing is synthesized. What cannot be estimated (no ``traffic:`` block, an artifact
already in S3 whose size is unknown, a type or region without a price) never blocks a deployment:
the reason is returned instead, for the caller to print.
"""

from __future__ import annotations

from dataclasses import dataclass

from cost_advisor.advice import DeployedEstimate, estimate_deployed
from cost_advisor.model_size import ModelSize, ModelSizeError
from cost_advisor.options import AdvisorError, Catalog
from endpoint_configs import ConfigError, EnvironmentConfig, Problem
from model_packaging.build import BuiltArtifact


@dataclass(frozen=True)
class CostCheck:
    """The outcome for one workload: an estimate, or why there is none."""

    estimate: DeployedEstimate | None
    skipped: str | None = None

    def describe(self) -> str:
        if self.estimate is not None:
            return "cost estimate: " + self.estimate.describe()
        return f"cost estimate: none ({self.skipped})"


def served_model(built: BuiltArtifact | None) -> ModelSize | None:
    """The size facts of the artifact synth built; None for an artifact already in S3."""
    if built is None:
        return None
    try:
        return ModelSize.from_manifest(built.manifest, source=str(built.manifest_path))
    except ModelSizeError:
        return None


def check_deployed_cost(
    config: EnvironmentConfig,
    kind: str,
    *,
    model: ModelSize | None,
    source: str,
    catalog: Catalog | None = None,
) -> CostCheck:
    """Estimate ``kind`` serving ``model`` at ``config.traffic``; ``ConfigError`` naming ``source``
    when it is over the budget without an acknowledgment."""
    if config.traffic is None:
        return CostCheck(None, f"{source} has no traffic: block")
    if model is None:
        return CostCheck(None, "the model's size is unknown: the artifact is not built here")
    try:
        estimate = estimate_deployed(config, kind, model=model, catalog=catalog)
    except AdvisorError as error:
        return CostCheck(None, str(error))
    budget = config.budget
    if budget is None or not estimate.over_budget or budget.acknowledge_over_budget:
        return CostCheck(estimate)
    cheaper = "; ".join(f"{o.label} ${o.monthly_usd or 0:,.2f}" for o in estimate.cheaper[:3])
    raise ConfigError(
        source,
        [
            Problem(
                "budget.monthly_limit_usd",
                f"the {kind} endpoint ({estimate.option.label}) is estimated at "
                f"${estimate.monthly_usd:,.2f}/month at the traffic: profile, over this limit"
                + (f"; cheaper options: {cheaper}" if cheaper else "; no eligible option is cheaper")
                + ". Raise the limit, deploy a cheaper option, or set budget.acknowledge_over_budget "
                "to say why (see `make advise ENV=...`)",
                budget.monthly_limit_usd,
            )
        ],
    )
