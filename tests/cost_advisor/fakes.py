"""A small instance catalog with the API of ``endpoint_configs.instance_catalog``, for tests.

Prices are us-east-1 on-demand figures written by hand (test data: the tests compute the expected
costs from these same numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field

REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str = "test"
    date: str = "2026-11"


@dataclass(frozen=True)
class ServerlessPrices:
    compute_usd_per_gb_second: float = 0.00002
    data_usd_per_gb: float = 0.016
    provisioned_usd_per_gb_second: float | None = 0.000004646
    provisioned_inference_usd_per_gb_second: float | None = 0.000013
    source: str = "test"
    date: str = "2026-11"


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    hosting_usd: float
    transform_usd: float | None = None
    gpus: int = 0
    gpu_memory_gib: float = 0
    accelerator_model: str | None = None
    burstable: bool = False

    @property
    def has_gpu(self) -> bool:
        return self.gpus > 0


INSTANCES = (
    InstanceType("ml.t2.medium", 2, 4, 0.056, burstable=True),
    InstanceType("ml.m5.large", 2, 8, 0.115, 0.115),
    InstanceType("ml.c5.xlarge", 4, 8, 0.204, 0.204),
    InstanceType("ml.m5.2xlarge", 8, 32, 0.461, 0.461),
    InstanceType("ml.g4dn.xlarge", 4, 16, 0.736, 0.736, gpus=1, gpu_memory_gib=16, accelerator_model="T4"),
    InstanceType("ml.g5.xlarge", 4, 16, 1.408, 1.408, gpus=1, gpu_memory_gib=24, accelerator_model="A10G"),
    InstanceType("ml.g5.12xlarge", 48, 192, 7.09, 7.09, gpus=4, gpu_memory_gib=96, accelerator_model="A10G"),
)


class CatalogError(ValueError):
    pass


@dataclass
class FakeCatalog:
    instances: tuple[InstanceType, ...] = INSTANCES
    regions: tuple[str, ...] = (REGION,)
    serverless: ServerlessPrices = field(default_factory=ServerlessPrices)

    def instance_types(self) -> tuple[InstanceType, ...]:
        return self.instances

    def _instance(self, name: str, region: str) -> InstanceType:
        if region not in self.regions:
            raise CatalogError(f"no price for {name} in {region}")
        for instance in self.instances:
            if instance.name == name:
                return instance
        raise CatalogError(f"unknown instance type {name}")

    def hosting_price(self, name: str, region: str) -> Price:
        return Price(self._instance(name, region).hosting_usd)

    def transform_price(self, name: str, region: str) -> Price:
        usd = self._instance(name, region).transform_usd
        if usd is None:
            raise CatalogError(f"{name} is not a transform instance type")
        return Price(usd)

    def serverless_prices(self, region: str) -> ServerlessPrices:
        if region not in self.regions:
            raise CatalogError(f"no serverless prices in {region}")
        return self.serverless
