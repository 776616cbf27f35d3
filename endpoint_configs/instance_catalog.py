"""The SageMaker instance catalog, as data: specs and on-demand prices of every ``ml.*`` type.

``instance_catalog.json`` next to this module lists each hosting (``ProductionVariantInstanceType``)
and batch transform (``TransformInstanceType``) instance type of botocore with the specs of the EC2
type of the same name (``ml.X.Y`` = EC2 ``X.Y``): vCPUs, memory, GPUs and their total memory, the
accelerator, local NVMe storage, CPU architecture; and, per region, the on-demand hourly price for
real-time hosting and for batch transform where a source was found, each with its source and date.
``_about`` in the file names the sources and the types and prices that are missing.

The cost advisor and the LLM GPU sizing read it; ``refresh_prices`` rewrites the prices from the
AWS Price List API (the only function here that calls AWS).
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import os
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("instance_catalog.json")
ARCHITECTURES = ("x86_64", "arm64")
"""``x86_64`` (Intel and AMD) and ``arm64`` (AWS Graviton: the ``g`` families such as c7g, m6g)."""
ACCELERATORS = ("none", "nvidia", "inferentia", "trainium", "gaudi")
GIB = 1024**3
PRICE_LIST_SOURCE = "AWS Price List API"
REFRESH_HINT = "run `python -m cost_advisor refresh-prices` with AWS credentials"
_FIELDS = (
    "name", "vcpus", "memory_gib", "gpus", "gpu_memory_gib", "accelerator", "accelerator_model",
    "nvme_gb", "architecture", "burstable", "current_generation", "transform", "spec_source",
    "hosting_prices", "transform_prices",
)  # fmt: skip


class CatalogError(ValueError):
    """An unknown instance type or region, a missing price, a malformed catalog, or a failed refresh."""


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    """A URL, ``owner/repo@commit:path``, or ``AWS Price List API``."""
    date: str
    """When the price was read or billed (``YYYY-MM`` or ``YYYY-MM-DD``)."""


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int
    """Accelerators of any kind (NVIDIA GPUs, Inferentia or Trainium chips, Gaudi cards)."""
    gpu_memory_gib: float
    """Total accelerator memory over all of them, 0 without accelerators."""
    accelerator: str
    accelerator_model: str | None
    nvme_gb: int
    """Local NVMe instance storage (GB); SageMaker refuses a KMS key for the volume when it is > 0."""
    architecture: str
    burstable: bool
    current_generation: bool
    """False for the EC2 previous-generation families (c4, m4, p2, p3)."""
    transform: bool
    """Also a batch transform instance type."""
    spec_source: str
    hosting_prices: Mapping[str, Price]
    transform_prices: Mapping[str, Price]

    @property
    def family(self) -> str:
        """``ml.g5.xlarge`` -> ``g5``."""
        return self.name.split(".")[1]

    @property
    def has_gpu(self) -> bool:
        return self.accelerator == "nvidia"

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)

    @property
    def gpu_memory_bytes(self) -> int:
        return int(self.gpu_memory_gib * GIB)


@dataclass(frozen=True)
class ServerlessPrices:
    region: str
    compute_usd_per_gb_second: float
    data_usd_per_gb: float
    """Data processed, in and out."""
    provisioned_usd_per_gb_second: float | None
    """Provisioned concurrency held, per GB-second; None where no source gave it."""
    provisioned_inference_usd_per_gb_second: float | None
    """Inference duration while provisioned concurrency is on, per GB-second; None where unknown."""
    source: str
    date: str


@dataclass(frozen=True)
class _Catalog:
    instances: tuple[InstanceType, ...]
    serverless: Mapping[str, ServerlessPrices]


@functools.cache
def _catalog() -> _Catalog:
    document = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    instances = tuple(_instance(entry, index) for index, entry in enumerate(document["instances"]))
    names = [instance.name for instance in instances]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CatalogError(f"{CATALOG_PATH.name}: listed more than once: {', '.join(duplicates)}")
    serverless = {
        region: _serverless(region, entry) for region, entry in document.get("serverless", {}).items()
    }
    return _Catalog(instances, serverless)


def _instance(entry: object, index: int) -> InstanceType:
    where = f"{CATALOG_PATH.name} instances[{index}]"
    if not isinstance(entry, dict) or sorted(entry) != sorted(_FIELDS):
        raise CatalogError(f"{where}: needs exactly the fields {', '.join(_FIELDS)}")
    name = entry["name"]
    if not (isinstance(name, str) and name.startswith("ml.") and name.count(".") == 2):
        raise CatalogError(f"{where}: name {name!r} is not ml.<family>.<size>")
    for field in ("vcpus", "memory_gib"):
        if not (isinstance(entry[field], int | float) and entry[field] > 0):
            raise CatalogError(f"{where} ({name}): {field} {entry[field]!r} must be positive")
    for field in ("gpus", "gpu_memory_gib", "nvme_gb"):
        if not (isinstance(entry[field], int | float) and entry[field] >= 0):
            raise CatalogError(f"{where} ({name}): {field} {entry[field]!r} must not be negative")
    if entry["accelerator"] not in ACCELERATORS:
        raise CatalogError(f"{where} ({name}): accelerator {entry['accelerator']!r} not in {ACCELERATORS}")
    if (entry["accelerator"] == "none") != (entry["gpus"] == 0 and entry["gpu_memory_gib"] == 0):
        raise CatalogError(f"{where} ({name}): accelerators need a count and their memory")
    if entry["architecture"] not in ARCHITECTURES:
        raise CatalogError(f"{where} ({name}): architecture {entry['architecture']!r} not in {ARCHITECTURES}")
    if not str(entry["spec_source"]).startswith("https://"):
        raise CatalogError(f"{where} ({name}): spec_source must be an https page")
    return InstanceType(
        name=name,
        vcpus=int(entry["vcpus"]),
        memory_gib=float(entry["memory_gib"]),
        gpus=int(entry["gpus"]),
        gpu_memory_gib=float(entry["gpu_memory_gib"]),
        accelerator=str(entry["accelerator"]),
        accelerator_model=entry["accelerator_model"],
        nvme_gb=int(entry["nvme_gb"]),
        architecture=str(entry["architecture"]),
        burstable=bool(entry["burstable"]),
        current_generation=bool(entry["current_generation"]),
        transform=bool(entry["transform"]),
        spec_source=str(entry["spec_source"]),
        hosting_prices=_prices(entry["hosting_prices"], f"{where} ({name}) hosting_prices"),
        transform_prices=_prices(entry["transform_prices"], f"{where} ({name}) transform_prices"),
    )


def _prices(entry: object, where: str) -> dict[str, Price]:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must map region to price")
    prices = {}
    for region, price in entry.items():
        if not (
            isinstance(price, dict)
            and sorted(price) == ["date", "source", "usd_per_hour"]
            and isinstance(price["usd_per_hour"], int | float)
            and price["usd_per_hour"] > 0
            and price["source"]
            and price["date"]
        ):
            raise CatalogError(f"{where}[{region}]: needs a positive usd_per_hour, a source and a date")
        prices[region] = Price(float(price["usd_per_hour"]), str(price["source"]), str(price["date"]))
    return prices


def _serverless(region: str, entry: Mapping[str, Any]) -> ServerlessPrices:
    where = f"{CATALOG_PATH.name} serverless[{region}]"
    fields = sorted(f for f in ServerlessPrices.__dataclass_fields__ if f != "region")
    if not isinstance(entry, dict) or sorted(entry) != fields:
        raise CatalogError(f"{where}: needs exactly the fields {', '.join(fields)}")
    for name in ("compute_usd_per_gb_second", "data_usd_per_gb"):
        if not (isinstance(entry[name], int | float) and entry[name] > 0):
            raise CatalogError(f"{where}: {name} {entry[name]!r} must be a positive number")
    for name in ("provisioned_usd_per_gb_second", "provisioned_inference_usd_per_gb_second"):
        if entry[name] is not None and not (isinstance(entry[name], int | float) and entry[name] > 0):
            raise CatalogError(f"{where}: {name} {entry[name]!r} must be a positive number or null")
    if not (entry["source"] and entry["date"]):
        raise CatalogError(f"{where}: needs a source and a date")
    return ServerlessPrices(region=region, **entry)


# ---- look-ups ------------------------------------------------------------------------------------


def instance_types() -> tuple[InstanceType, ...]:
    """Every instance type of the catalog, in file order."""
    return _catalog().instances


def instance_type(name: str) -> InstanceType:
    """The entry of ``name``; CatalogError naming the nearest known names when there is none."""
    for instance in instance_types():
        if instance.name == name:
            return instance
    nearest = difflib.get_close_matches(name, [i.name for i in instance_types()], n=3, cutoff=0.5)
    hint = f" (nearest: {', '.join(nearest)})" if nearest else ""
    raise CatalogError(f"unknown instance type {name!r} in {CATALOG_PATH.name}{hint}")


def hosting_price(name: str, region: str) -> Price:
    """The on-demand hourly price of ``name`` for real-time hosting in ``region``."""
    return _price(name, region, "hosting_prices", "on-demand")


def transform_price(name: str, region: str) -> Price:
    """The on-demand hourly price of ``name`` for batch transform in ``region``."""
    return _price(name, region, "transform_prices", "batch transform")


def _price(name: str, region: str, kind: str, label: str) -> Price:
    prices: Mapping[str, Price] = getattr(instance_type(name), kind)
    if region in prices:
        return prices[region]
    known = ", ".join(sorted(prices)) or "no region"
    raise CatalogError(
        f"no {label} price for {name} in region {region} in endpoint_configs/{CATALOG_PATH.name} "
        f"(prices known for: {known}); {REFRESH_HINT}"
    )


def serverless_prices(region: str) -> ServerlessPrices:
    """Serverless inference prices of ``region``."""
    serverless = _catalog().serverless
    if region in serverless:
        return serverless[region]
    known = ", ".join(sorted(serverless)) or "no region"
    raise CatalogError(
        f"no serverless inference prices for region {region} in endpoint_configs/{CATALOG_PATH.name} "
        f"(prices known for: {known}); {REFRESH_HINT}"
    )


def priced_regions() -> tuple[str, ...]:
    """Regions with at least one hosting, transform or serverless price, sorted."""
    regions = set(_catalog().serverless)
    for instance in instance_types():
        regions.update(instance.hosting_prices, instance.transform_prices)
    return tuple(sorted(regions))


# ---- sizing --------------------------------------------------------------------------------------


def smallest_instance_for(
    memory_bytes: int,
    *,
    architectures: Collection[str] = ("x86_64",),
    per_vcpu_bytes: int = 0,
    include_burstable: bool = True,
    gpu_memory_bytes: int = 0,
) -> str | None:
    """The current-generation instance type with the least memory that holds ``memory_bytes`` plus
    ``per_vcpu_bytes`` for each of its vCPUs (for model servers that start one worker per vCPU, as
    TorchServe does by default); among equals the fewest vCPUs, then the catalog's order. Only the
    given CPU ``architectures`` (``x86_64``, ``arm64``) count; ``include_burstable=False`` leaves
    out ``ml.t2``. With ``gpu_memory_bytes`` 0 only types without accelerators count; above 0 only
    NVIDIA GPU types whose total GPU memory holds it, the least GPU memory first. None when nothing
    in the catalog is large enough. The figures are the whole memory: callers add an allowance for
    what runs beside the model.
    """
    unknown = sorted(set(architectures) - set(ARCHITECTURES))
    if unknown:
        raise ValueError(
            f"unknown architecture(s) {', '.join(unknown)}: choose from {', '.join(ARCHITECTURES)}"
        )
    if memory_bytes < 0 or per_vcpu_bytes < 0 or gpu_memory_bytes < 0:
        raise ValueError("memory_bytes, per_vcpu_bytes and gpu_memory_bytes must not be negative")
    fitting = [
        instance
        for instance in instance_types()
        if instance.current_generation
        and instance.architecture in architectures
        and (include_burstable or not instance.burstable)
        and memory_bytes + instance.vcpus * per_vcpu_bytes <= instance.memory_bytes
        and (
            instance.has_gpu and gpu_memory_bytes <= instance.gpu_memory_bytes
            if gpu_memory_bytes
            else instance.accelerator == "none"
        )
    ]
    if not fitting:
        return None
    best = min(fitting, key=lambda i: (i.gpu_memory_gib, i.memory_gib, i.vcpus))
    return best.name


# ---- refreshing prices from the AWS Price List API -------------------------------------------------


def refresh_prices(regions: Sequence[str] | None = None, *, client: Any | None = None) -> list[str]:
    """Replace the hosting and transform prices of ``regions`` (default: every priced region) with
    those of the AWS Price List API (``pricing.get_products`` for ``AmazonSageMaker``, paginated)
    and rewrite the catalog file atomically; the serverless prices of a region are replaced only
    when all four rates were found. Prices of other regions stay. ``client`` is a boto3 ``pricing``
    client (made in us-east-1 when None). Returns one line per region saying what was found;
    CatalogError without credentials or when the API refuses.
    """
    regions = list(regions) if regions else list(priced_regions())
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name="us-east-1")
    today = datetime.date.today().isoformat()
    hosting: dict[str, dict[str, Price]] = {}
    transform: dict[str, dict[str, Price]] = {}
    serverless: dict[str, dict[str, float]] = {}
    for region in regions:
        for product in _products(client, region):
            _classify(product, region, today, hosting, transform, serverless)
    document = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    for entry in document["instances"]:
        for kind, found in (("hosting_prices", hosting), ("transform_prices", transform)):
            for region in regions:
                entry[kind].pop(region, None)
            for region, price in found.get(entry["name"], {}).items():
                entry[kind][region] = {
                    "usd_per_hour": price.usd_per_hour,
                    "source": price.source,
                    "date": price.date,
                }
    report = []
    for region in regions:
        rates = serverless.get(region, {})
        complete = set(rates) == set(_SERVERLESS_FIELDS.values())
        if complete:
            document.setdefault("serverless", {})[region] = {
                **rates,
                "source": PRICE_LIST_SOURCE,
                "date": today,
            }
        hosted = sum(region in prices for prices in hosting.values())
        transformed = sum(region in prices for prices in transform.values())
        kept = "replaced" if complete else f"kept as they were ({len(rates)} of 4 rates found)"
        report.append(
            f"{region}: {hosted} hosting and {transformed} transform prices; serverless prices {kept}"
        )
    _write_atomically(CATALOG_PATH, json.dumps(document, indent=1) + "\n")
    _catalog.cache_clear()
    return report


_SERVERLESS_FIELDS = {
    # usagetype suffix (after the region prefix) -> ServerlessPrices field. Hosting (``Host:ml.*``,
    # component ``Hosting``) is confirmed by public Price List examples; these serverless names are
    # not: check them against a real get_products answer before trusting a refresh.
    "ServerlessInf:Mem": "compute_usd_per_gb_second",
    "ServerlessInf:Data-Bytes": "data_usd_per_gb",
    "ServerlessInf:PCMem": "provisioned_usd_per_gb_second",
    "ServerlessInf:PCInfMem": "provisioned_inference_usd_per_gb_second",
}


def _products(client: Any, region: str) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    filters = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
    ]
    token: str | None = None
    try:
        while True:
            kwargs: dict[str, Any] = {"ServiceCode": "AmazonSageMaker", "Filters": filters, "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            page = client.get_products(**kwargs)
            for item in page.get("PriceList", []):
                yield json.loads(item) if isinstance(item, str) else item
            token = page.get("NextToken")
            if not token:
                return
    except NoCredentialsError:
        raise CatalogError(
            "refresh-prices needs AWS credentials (any identity allowed pricing:GetProducts): none were found"
        ) from None
    except ClientError as error:
        raise CatalogError(f"the AWS Price List API refused get_products for {region}: {error}") from None
    except BotoCoreError as error:
        raise CatalogError(f"the AWS Price List API could not be reached: {error}") from None


def _on_demand_usd(product: Mapping[str, Any]) -> float | None:
    """The first non-zero USD price of the product's OnDemand terms."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def _classify(
    product: Mapping[str, Any],
    region: str,
    today: str,
    hosting: dict[str, dict[str, Price]],
    transform: dict[str, dict[str, Price]],
    serverless: dict[str, dict[str, float]],
) -> None:
    attributes = product.get("product", {}).get("attributes", {})
    if attributes.get("regionCode", region) != region:
        return
    usd = _on_demand_usd(product)
    if usd is None:
        return
    usagetype = str(attributes.get("usagetype", ""))
    suffix = usagetype.split("-", 1)[1] if "-" in usagetype.split(":", 1)[0] else usagetype
    if suffix in _SERVERLESS_FIELDS:
        serverless.setdefault(region, {})[_SERVERLESS_FIELDS[suffix]] = usd
        return
    name = attributes.get("instanceName")
    component = str(attributes.get("component", "")).lower()
    if not name:
        return
    price = Price(usd, PRICE_LIST_SOURCE, today)
    if component == "hosting" or ":Host:" in f":{suffix}":
        hosting.setdefault(name, {})[region] = price
    elif component in ("batch transform", "batchtransform") or suffix.startswith("Tsform:"):
        transform.setdefault(name, {})[region] = price


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
