"""A picture of the advice: monthly cost against requests per day (log axis) for each option that
is eligible at the given workload, where the cheapest option changes, and where the workload sits.

The other traffic figures scale with the volume: the peak keeps its ratio to the mean.
"""

from __future__ import annotations

from pathlib import Path

from cost_advisor.advice import Advice
from cost_advisor.options import Catalog, Option, evaluate_options

POINTS = 41
SPAN = 100.0
"""The x axis runs from the workload's volume / SPAN to x SPAN."""


def _family(option: Option) -> str:
    """An option's curve: its kind and size, not the instance count it needs at one volume."""
    if option.kind == "serverless":
        return option.label
    return option.kind


def cost_curves(advice: Advice, catalog: Catalog) -> tuple[list[float], dict[str, list[float | None]]]:
    """(requests per day, monthly USD per option family at each volume; None where ineligible)."""
    base = advice.profile
    volumes = [base.requests_per_day * SPAN ** (2 * i / (POINTS - 1) - 1) for i in range(POINTS)]
    families = [_family(o) for o in advice.eligible]
    curves: dict[str, list[float | None]] = {name: [] for name in families}
    ratio = base.peak_requests_per_second / base.requests_per_day
    for volume in volumes:
        profile = base.model_copy(
            update={"requests_per_day": volume, "peak_requests_per_second": volume * ratio}
        )
        costs = {
            _family(o): o.monthly_usd
            for o in evaluate_options(profile, advice.model, region=advice.region, catalog=catalog)
            if o.eligible
        }
        for name in families:
            curves[name].append(costs.get(name))
    return volumes, curves


def cheapest_changes(volumes: list[float], curves: dict[str, list[float | None]]) -> list[tuple[float, str]]:
    """(volume, newly cheapest family) wherever the cheapest option changes along the axis."""
    changes: list[tuple[float, str]] = []
    previous = None
    for index, volume in enumerate(volumes):
        present = {n: c[index] for n, c in curves.items() if c[index] is not None}
        if not present:
            continue
        cheapest = min(present, key=lambda n: present[n] or 0.0)
        if previous is not None and cheapest != previous:
            changes.append((volume, cheapest))
        previous = cheapest
    return changes


def write_plot(advice: Advice, path: Path, *, catalog: Catalog) -> Path:
    """Write the PNG to ``path`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volumes, curves = cost_curves(advice, catalog)
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=100)
    for name, costs in curves.items():
        xs = [v for v, c in zip(volumes, costs, strict=True) if c is not None]
        ys = [c for c in costs if c is not None]
        axes.plot(xs, ys, label=name, linewidth=1.6)
    for volume, name in cheapest_changes(volumes, curves):
        axes.axvline(volume, color="grey", linestyle=":", linewidth=1)
        axes.annotate(
            f"cheapest: {name}", (volume, 0.98), xycoords=("data", "axes fraction"),
            rotation=90, va="top", ha="right", fontsize=7, color="grey",
        )  # fmt: skip
    chosen = advice.recommendation
    if chosen is not None and chosen.monthly_usd is not None:
        axes.scatter([advice.profile.requests_per_day], [chosen.monthly_usd], color="black", zorder=5)
        axes.annotate(
            f"this workload: {chosen.label}\n${chosen.monthly_usd:,.2f}/month",
            (advice.profile.requests_per_day, chosen.monthly_usd),
            textcoords="offset points", xytext=(8, 8), fontsize=8,
        )  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("requests per active day")
    axes.set_ylabel("USD per month")
    axes.set_title(f"Monthly cost by inference option ({advice.region})")
    axes.grid(True, which="both", alpha=0.3)
    if curves:
        axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path
