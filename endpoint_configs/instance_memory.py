"""vCPUs and memory of the CPU instance types that commonly serve small NLP models, as data.

``instance_memory.json`` next to this module lists, for each ``ml.<family>.<size>`` type, its vCPUs,
memory (GiB), CPU architecture (``x86_64``, or ``arm64`` for Graviton) and the page the figures
come from, with the date they were read. A SageMaker ``ml.X.Y`` instance has the vCPUs and memory
of the EC2 ``X.Y`` instance type, so the sources are the EC2 instance-type pages.

``smallest_instance_for(memory_bytes)`` picks the instance with the least memory that holds
``memory_bytes`` (then the fewest vCPUs; remaining ties keep the table's order). The figures are
the instance's whole memory: the operating system and SageMaker's agents use some of it, so
callers add their own allowance for what runs beside the model. Pure Python: no AWS calls.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from endpoint_configs import limits

TABLE_PATH = Path(__file__).with_name("instance_memory.json")
ARCHITECTURES = ("x86_64", "arm64")
"""``x86_64`` (Intel and AMD) and ``arm64`` (AWS Graviton: the ``g`` families such as c7g, m6g)."""
GIB = 1024**3
FIELDS = ("instance_type", "vcpu", "memory_gib", "architecture", "source", "date")


@dataclass(frozen=True)
class InstanceMemory:
    """One row of the table."""

    instance_type: str
    vcpu: int
    memory_gib: float
    architecture: str
    source: str
    """The page the vCPU and memory figures come from."""
    date: str
    """When the source was read (``YYYY-MM``)."""

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)

    @property
    def burstable(self) -> bool:
        """``ml.t2`` style: CPU credits, and no SageMaker autoscaling (see ``limits.is_burstable``)."""
        return limits.is_burstable(self.instance_type)


@functools.cache
def instance_table() -> tuple[InstanceMemory, ...]:
    """Every row of ``instance_memory.json``, in file order; raises ``ValueError`` on a malformed row."""
    document = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    rows = [_row(entry, index) for index, entry in enumerate(document["instances"])]
    names = [row.instance_type for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{TABLE_PATH.name}: listed more than once: {', '.join(duplicates)}")
    return tuple(rows)


def _row(entry: object, index: int) -> InstanceMemory:
    where = f"{TABLE_PATH.name} instances[{index}]"
    if not isinstance(entry, dict) or sorted(entry) != sorted(FIELDS):
        raise ValueError(f"{where}: needs exactly the fields {', '.join(FIELDS)}")
    name, vcpu, memory = entry["instance_type"], entry["vcpu"], entry["memory_gib"]
    if not (isinstance(name, str) and name.startswith("ml.") and limits.instance_family(name)):
        raise ValueError(f"{where}: instance_type {name!r} is not ml.<family>.<size>")
    if not (isinstance(vcpu, int) and vcpu > 0):
        raise ValueError(f"{where}: vcpu {vcpu!r} must be a positive integer")
    if not (isinstance(memory, int | float) and memory > 0):
        raise ValueError(f"{where}: memory_gib {memory!r} must be a positive number")
    if entry["architecture"] not in ARCHITECTURES:
        raise ValueError(f"{where}: architecture {entry['architecture']!r} is not one of {ARCHITECTURES}")
    if not str(entry["source"]).startswith("https://") or not str(entry["date"]):
        raise ValueError(f"{where}: needs an https source and the date it was read")
    return InstanceMemory(
        instance_type=name,
        vcpu=vcpu,
        memory_gib=float(memory),
        architecture=str(entry["architecture"]),
        source=str(entry["source"]),
        date=str(entry["date"]),
    )


def instance_memory(instance_type: str) -> InstanceMemory | None:
    """The row of ``instance_type``, or None when the table does not list it."""
    return next((row for row in instance_table() if row.instance_type == instance_type), None)


def smallest_instance_for(
    memory_bytes: int,
    *,
    architectures: Collection[str] = ("x86_64",),
    per_vcpu_bytes: int = 0,
    include_burstable: bool = True,
) -> str | None:
    """The instance type with the least memory that holds ``memory_bytes`` plus ``per_vcpu_bytes``
    for each of its vCPUs (for model servers that start one worker per vCPU, as TorchServe does by
    default); among equals the fewest vCPUs, then the table's order. Only the given CPU
    ``architectures`` (``x86_64``, ``arm64``) count; ``include_burstable=False`` leaves out ``ml.t2``.
    None when nothing in the table is large enough.
    """
    unknown = sorted(set(architectures) - set(ARCHITECTURES))
    if unknown:
        raise ValueError(
            f"unknown architecture(s) {', '.join(unknown)}: choose from {', '.join(ARCHITECTURES)}"
        )
    if memory_bytes < 0 or per_vcpu_bytes < 0:
        raise ValueError("memory_bytes and per_vcpu_bytes must not be negative")
    fitting = [
        row
        for row in instance_table()
        if row.architecture in architectures
        and (include_burstable or not row.burstable)
        and memory_bytes + row.vcpu * per_vcpu_bytes <= row.memory_bytes
    ]
    if not fitting:
        return None
    return min(fitting, key=lambda row: (row.memory_gib, row.vcpu)).instance_type
