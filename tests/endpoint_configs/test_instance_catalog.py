"""endpoint_configs.instance_catalog: the catalog's coverage and integrity, look-ups, errors, GPU sizing
and the parsing of AWS Price List products (through a fake client: no AWS call)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from endpoint_configs import instance_catalog
from endpoint_configs.instance_catalog import (
    GIB,
    CatalogError,
    hosting_price,
    instance_type,
    instance_types,
    priced_regions,
    refresh_prices,
    serverless_prices,
    smallest_instance_for,
    transform_price,
)

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
DOCUMENT = json.loads(instance_catalog.CATALOG_PATH.read_text(encoding="utf-8"))


def test_every_botocore_hosting_and_transform_type_is_in_the_catalog_or_named_as_missing() -> None:
    names = {instance.name for instance in instance_types()}
    missing = set(DOCUMENT["_about"]["missing_specs"]["instance_types"])
    for shape in ("ProductionVariantInstanceType", "TransformInstanceType"):
        enum = set(SAGEMAKER.shape_for(shape).enum)
        assert enum - names <= missing, shape
    assert not names & missing
    assert DOCUMENT["_about"]["date"] == "2026-11-30"


def test_every_entry_has_specs_and_every_price_a_source_and_date() -> None:
    transform = set(SAGEMAKER.shape_for("TransformInstanceType").enum)
    for instance in instance_types():
        assert instance.vcpus > 0, instance.name
        assert instance.memory_gib > 0, instance.name
        assert instance.transform == (instance.name in transform), instance.name
        if instance.accelerator != "none":
            assert instance.gpus > 0, instance.name
            assert instance.gpu_memory_gib > 0, instance.name
            assert instance.accelerator_model, instance.name
        assert instance.family == instance.name.split(".")[1]
        for price in [*instance.hosting_prices.values(), *instance.transform_prices.values()]:
            assert price.usd_per_hour > 0, instance.name
            assert price.source, instance.name
            assert price.date, instance.name


def test_known_facts() -> None:
    g5 = instance_type("ml.g5.xlarge")
    assert (g5.gpus, g5.accelerator_model, g5.gpu_memory_gib) == (1, "A10G", 24)
    assert (g5.vcpus, g5.memory_gib, g5.nvme_gb, g5.has_gpu, g5.family) == (4, 16, 250, True, "g5")
    c5 = instance_type("ml.c5.xlarge")
    assert (c5.vcpus, c5.memory_gib, c5.nvme_gb, c5.has_gpu, c5.accelerator) == (4, 8, 0, False, "none")
    assert instance_type("ml.t2.medium").burstable
    assert instance_type("ml.m6g.large").architecture == "arm64"
    assert instance_type("ml.inf2.xlarge").accelerator == "inferentia"
    assert not instance_type("ml.c4.large").current_generation


def test_prices_and_regions() -> None:
    assert hosting_price("ml.g5.xlarge", "us-east-1").usd_per_hour == 1.4084
    assert hosting_price("ml.m5.xlarge", "eu-west-1").usd_per_hour == 0.257
    assert transform_price("ml.m5.xlarge", "eu-west-1").date == "2023-12"
    assert {"us-east-1", "eu-west-1"} <= set(priced_regions())
    serverless = serverless_prices("us-east-1")
    assert (serverless.compute_usd_per_gb_second, serverless.data_usd_per_gb) == (0.00002, 0.016)
    assert serverless.provisioned_usd_per_gb_second is None  # no source found: not priced


def test_catalog_with_a_partial_serverless_entry_is_refused(catalog_copy: Path) -> None:
    # GIVEN a serverless entry without its data rate
    document = json.loads(catalog_copy.read_text(encoding="utf-8"))
    del document["serverless"]["us-east-1"]["data_usd_per_gb"]
    catalog_copy.write_text(json.dumps(document), encoding="utf-8")
    # WHEN the catalog is read, THEN the message names the entry and the fields it needs
    with pytest.raises(CatalogError, match=r"serverless\[us-east-1\]: needs exactly the fields compute_usd"):
        serverless_prices("us-east-1")


def test_unknown_type_names_the_nearest() -> None:
    with pytest.raises(CatalogError, match=r"unknown instance type 'ml\.g5\.xlarg'.*ml\.g5\.xlarge"):
        instance_type("ml.g5.xlarg")


def test_missing_price_says_what_is_known_and_how_to_refresh() -> None:
    with pytest.raises(CatalogError, match=r"no on-demand price for ml\.g5\.xlarge in region ap-south-1 .*"
                       r"prices known for: us-east-1\).*refresh-prices"):  # fmt: skip
        hosting_price("ml.g5.xlarge", "ap-south-1")
    with pytest.raises(CatalogError, match=r"batch transform price for ml\.c5\.xlarge.*no region"):
        transform_price("ml.c5.xlarge", "us-east-1")
    with pytest.raises(CatalogError, match="no serverless inference prices for region eu-west-1"):
        serverless_prices("eu-west-1")


def test_gpu_sizing_picks_the_least_gpu_memory_that_holds_the_model() -> None:
    assert smallest_instance_for(GIB, gpu_memory_bytes=10 * GIB) == "ml.g4dn.xlarge"  # T4, 16 GiB
    assert smallest_instance_for(GIB, gpu_memory_bytes=20 * GIB) == "ml.g5.xlarge"  # 24 GiB, 16 GiB RAM
    assert smallest_instance_for(20 * GIB, gpu_memory_bytes=20 * GIB) == "ml.g5.2xlarge"
    assert smallest_instance_for(GIB, gpu_memory_bytes=40 * GIB) == "ml.g6e.xlarge"  # L40S 48 GiB
    assert smallest_instance_for(GIB, gpu_memory_bytes=4096 * GIB) is None
    assert instance_type(smallest_instance_for(GIB) or "").accelerator == "none"
    with pytest.raises(ValueError, match="negative"):
        smallest_instance_for(GIB, gpu_memory_bytes=-1)


# ---- refresh from the AWS Price List API, through a fake client ----------------------------------------


def product(attributes: dict[str, str], usd: str) -> str:
    return json.dumps({
        "product": {"productFamily": "ML Instance", "attributes": attributes, "sku": "SKU1"},
        "terms": {"OnDemand": {"SKU1.TERM": {"priceDimensions": {"SKU1.TERM.DIM": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}},
    })  # fmt: skip


class FakePricing:
    def __init__(self, pages: list[list[str]], error: Exception | None = None) -> None:
        self.pages = pages
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        index = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"PriceList": self.pages[index]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page


@pytest.fixture
def catalog_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy = tmp_path / "instance_catalog.json"
    shutil.copy(instance_catalog.CATALOG_PATH, copy)
    monkeypatch.setattr(instance_catalog, "CATALOG_PATH", copy)
    instance_catalog._catalog.cache_clear()
    yield copy
    monkeypatch.undo()
    instance_catalog._catalog.cache_clear()


def test_refresh_parses_hosting_transform_and_serverless_products(catalog_copy: Path) -> None:
    region = {"regionCode": "eu-central-1"}
    client = FakePricing([
        [
            product({**region, "instanceName": "ml.g5.xlarge", "component": "Hosting",
                     "usagetype": "EUC1-Host:ml.g5.xlarge"}, "1.8130000000"),
            product({**region, "instanceName": "ml.g5.xlarge", "component": "Training",
                     "usagetype": "EUC1-Train:ml.g5.xlarge"}, "1.8200000000"),
        ],
        [
            product({**region, "instanceName": "ml.c5.xlarge", "component": "Batch Transform",
                     "usagetype": "EUC1-Tsform:ml.c5.xlarge"}, "0.2330000000"),
            product({**region, "instanceName": "ml.c5.xlarge", "component": "Hosting",
                     "usagetype": "EUC1-Host:ml.c5.xlarge"}, "0.0000000000"),  # free tier: ignored
            product({**region, "usagetype": "EUC1-ServerlessInf:Mem"}, "0.0000200000"),
            product({**region, "usagetype": "EUC1-ServerlessInf:Data-Bytes"}, "0.0160000000"),
            product({**region, "usagetype": "EUC1-ServerlessInf:PCMem"}, "0.0000050000"),
            product({**region, "usagetype": "EUC1-ServerlessInf:PCInfMem"}, "0.0000100000"),
        ],
    ])  # fmt: skip
    assert refresh_prices(["eu-central-1"], client=client) == [
        "eu-central-1: 1 hosting and 1 transform prices; serverless prices replaced"
    ]
    assert [call.get("NextToken") for call in client.calls] == [None, "1"]
    assert client.calls[0]["ServiceCode"] == "AmazonSageMaker"
    price = hosting_price("ml.g5.xlarge", "eu-central-1")
    assert (price.usd_per_hour, price.source) == (1.813, "AWS Price List API")
    assert transform_price("ml.c5.xlarge", "eu-central-1").usd_per_hour == 0.233
    assert hosting_price("ml.g5.xlarge", "us-east-1").usd_per_hour == 1.4084  # other regions stay
    with pytest.raises(CatalogError):
        hosting_price("ml.c5.xlarge", "eu-central-1")
    serverless = serverless_prices("eu-central-1")
    assert (serverless.compute_usd_per_gb_second, serverless.data_usd_per_gb) == (0.00002, 0.016)
    assert serverless.provisioned_inference_usd_per_gb_second == 0.00001
    assert not list(catalog_copy.parent.glob(".*.tmp"))


def test_refresh_keeps_serverless_prices_when_not_all_four_rates_are_found(catalog_copy: Path) -> None:
    # GIVEN a Price List answer with the serverless compute rate only
    before = DOCUMENT["serverless"].get("us-east-1")
    answer = [[product({"regionCode": "us-east-1", "usagetype": "USE1-ServerlessInf:Mem"}, "0.00003")]]
    # WHEN the prices of us-east-1 are refreshed
    report = refresh_prices(["us-east-1"], client=FakePricing(answer))
    # THEN the serverless prices are kept as they were, and the report says so
    (line,) = report
    assert line.endswith("serverless prices kept as they were (1 of 4 rates found)")
    assert json.loads(catalog_copy.read_text(encoding="utf-8"))["serverless"].get("us-east-1") == before


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NoCredentialsError(), "needs AWS credentials"),
        (ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetProducts"), "refused"),
    ],
)
def test_refresh_without_access_fails_clearly(catalog_copy: Path, error: Exception, message: str) -> None:
    before = catalog_copy.read_text(encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        refresh_prices(["us-east-1"], client=FakePricing([], error=error))
    assert catalog_copy.read_text(encoding="utf-8") == before
