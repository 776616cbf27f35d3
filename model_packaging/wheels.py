"""Vendor an artifact's Python dependencies as wheels, so its container starts with no network.

A SageMaker framework container runs ``pip install -r /opt/ml/model/code/requirements.txt`` when
it starts. A network-isolated container (the default here) has no network then, so the artifact
carries the wheels itself:

1. resolve: ``pip install --dry-run --report`` for each interpreter of the serving images (Python
   version, manylinux platform, CPython), with the packages the images already have pinned as
   constraints. pip reads only metadata (PyPI serves it apart from the wheels): the image's torch
   is never downloaded;
2. select: the resolved packages reachable from the requirements without passing through a
   package the image has (so torch's CUDA libraries stay out);
3. download: ``pip download --no-deps --require-hashes`` of exactly those wheels;
4. rewrite ``code/requirements.txt``: ``--no-index``, ``--find-links wheels`` (pip reads that path
   relative to the requirements file) and every wheel pinned with its sha256.

Downloads are cached under ``<cache>/<key>``, keyed by the requirements text, the interpreters and
the images' packages: later builds, and every synth, read the cache and need no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from model_packaging.errors import PackagingError
from model_packaging.sources import REQUIREMENTS_PATH, SourceFile

VENDOR_VERSION = 2
"""Part of the cache key: bump when the resolution, the selection or the generated file change."""
WHEELS_FOLDER = "wheels"
"""Beside ``code/requirements.txt`` in the artifact: ``code/wheels/``."""
CONTAINER_CODE_DIR = "/opt/ml/model/code"
"""Where SageMaker puts the artifact's ``code/`` in the container (tar.gz and uncompressed alike)."""
PIP_TIMEOUT_SECONDS = 600


@dataclass(frozen=True, order=True)
class Interpreter:
    """A Python that will install the requirements: version (``3.12``) and machine (``x86_64``)."""

    python_version: str
    machine: str
    glibc: str = "2.17"
    """The newest glibc the image has: manylinux wheels up to this version are taken."""

    @property
    def label(self) -> str:
        return f"Python {self.python_version} {self.machine}"

    def pip_target_options(self) -> list[str]:
        """pip's options to pick wheels for this interpreter instead of the running one."""
        major, minor = (int(part) for part in self.glibc.split(".")[:2])
        platforms = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 16, -1)]
        platforms += [f"manylinux2014_{self.machine}"]
        if self.machine == "x86_64":
            platforms += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python_version]
        for platform in [*platforms, "linux_" + self.machine]:
            options += ["--platform", platform]
        return options

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of this interpreter (Linux, CPython)."""
        return {
            "python_version": self.python_version,
            "python_full_version": f"{self.python_version}.0",
            "implementation_version": f"{self.python_version}.0",
            "platform_machine": self.machine,
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_version": "",
        }


@dataclass(frozen=True)
class ServingImage:
    """A serving container: its interpreters and the packages it already has (name -> version,
    None where the version is not known)."""

    name: str
    interpreters: tuple[Interpreter, ...]
    packages: Mapping[str, str | None]
    source: str = ""


@cache
def _image_table() -> dict[str, Any]:
    text = resources.files("model_packaging").joinpath("serving_images.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def known_images() -> tuple[str, ...]:
    """Image repositories and tags (``pytorch-inference:2.6-cpu-py312``) whose Python is known."""
    return tuple(sorted(_image_table()["images"]))


def serving_image(image_uri: str) -> ServingImage | None:
    """What ``serving_images.json`` knows about the image at ``image_uri`` (registry ignored)."""
    key = image_uri.rsplit("/", 1)[-1]
    entry = _image_table()["images"].get(key)
    if entry is None:
        return None
    interpreters = tuple(
        Interpreter(python_version=version, machine=entry["machine"], glibc=entry["glibc"])
        for version in entry["python_versions"]
    )
    packages: dict[str, str | None] = {
        str(canonicalize_name(name)): version for name, version in entry["packages"].items()
    }
    return ServingImage(
        name=key, interpreters=interpreters, packages=packages, source="; ".join(entry["sources"])
    )


@dataclass(frozen=True)
class VendoredWheel:
    """One downloaded wheel and the package it installs."""

    name: str
    version: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class VendoredDependencies:
    """The wheels of a requirements file and the requirements file that installs only them."""

    requirements_file: Path
    """The generated ``code/requirements.txt``."""
    wheels: tuple[VendoredWheel, ...]
    from_images: tuple[str, ...]
    """Packages the requirements need that the images already have (``name==version``)."""
    images: tuple[str, ...]
    interpreters: tuple[Interpreter, ...]
    original: str
    """The requirements file it was made from (for the manifest)."""

    def sources(self, sources: Sequence[SourceFile]) -> list[SourceFile]:
        """``sources`` with the generated requirements file and the wheels in ``code/``."""
        kept = [s for s in sources if s.archive_path != REQUIREMENTS_PATH]
        added = [SourceFile(REQUIREMENTS_PATH, self.requirements_file, self.requirements_file.stat().st_size)]
        added += [
            SourceFile(f"code/{WHEELS_FOLDER}/{wheel.path.name}", wheel.path, wheel.path.stat().st_size)
            for wheel in self.wheels
        ]
        clash = [s.archive_path for s in kept if s.archive_path.startswith(f"code/{WHEELS_FOLDER}/")]
        if clash:
            raise PackagingError(
                f"the code folder has its own {clash[0]}; code/{WHEELS_FOLDER}/ holds the vendored "
                "wheels: rename the folder"
            )
        return sorted([*kept, *added], key=lambda s: s.archive_path)

    def manifest_entry(self) -> dict[str, Any]:
        """What the manifest records: interpreters, images, each wheel with its sha256."""
        return {
            "requirements": self.original,
            "images": list(self.images),
            "interpreters": [
                {"python": i.python_version, "machine": i.machine, "glibc": i.glibc}
                for i in self.interpreters
            ],
            "wheels": [
                {"name": w.name, "version": w.version, "file": w.path.name, "sha256": w.sha256}
                for w in self.wheels
            ],
            "from_images": list(self.from_images),
        }


def container_environment(dependencies: Mapping[str, Any] | None) -> dict[str, str]:
    """Container variables for an artifact whose manifest records ``dependencies``: any pip call in
    the container (the toolkit's start-up install included) uses only the vendored wheels."""
    if not dependencies or not dependencies.get("wheels"):
        return {}
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"{CONTAINER_CODE_DIR}/{WHEELS_FOLDER}"}


def requirement_lines(path: Path) -> list[str]:
    """The requirement and option lines of a requirements file (comments and blanks dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PackagingError(f"requirements file {path}: cannot read: {error}") from None
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def vendor_requirements(
    requirements: Path, images: Sequence[ServingImage], cache_dir: Path
) -> VendoredDependencies | None:
    """Wheels for ``requirements`` on every interpreter of ``images`` (None when the file asks for
    nothing), from the cache when the same inputs were vendored before. Raises ``PackagingError``
    naming the requirement when something has no wheel for an interpreter, or pip cannot reach
    its index."""
    lines = requirement_lines(requirements)
    if not lines:
        return None
    _check_lines(requirements, lines)
    interpreters = tuple(sorted({i for image in images for i in image.interpreters}))
    provided = _shared_packages(images)
    key = hashlib.sha256(
        json.dumps(
            {
                "version": VENDOR_VERSION,
                "requirements": lines,
                "interpreters": [vars(i) for i in interpreters],
                "images": sorted(image.name for image in images),
                "provided": provided,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]
    folder = Path(cache_dir) / key
    record = folder / "vendored.json"
    if not record.is_file():
        _vendor_into(folder, requirements, lines, interpreters, provided, [image.name for image in images])
    data = json.loads(record.read_text(encoding="utf-8"))
    return VendoredDependencies(
        requirements_file=folder / "requirements.txt",
        wheels=tuple(
            VendoredWheel(w["name"], w["version"], folder / WHEELS_FOLDER / w["file"], w["sha256"])
            for w in data["wheels"]
        ),
        from_images=tuple(data["from_images"]),
        images=tuple(data["images"]),
        interpreters=interpreters,
        original=_label(requirements),
    )


def _label(requirements: Path) -> str:
    """``onnx/requirements.txt``: the file and its folder, the same on every machine."""
    return f"{requirements.parent.name}/{requirements.name}"


def _check_lines(requirements: Path, lines: Sequence[str]) -> None:
    """Only what can be resolved to wheels: requirements and a few harmless options."""
    for line in lines:
        if line.startswith("-"):
            option = line.split()[0].split("=")[0]
            if option in ("--prefer-binary", "--only-binary", "--pre"):
                continue
            raise PackagingError(
                f"{requirements}: '{line}': option {option} is not vendored; the artifact's "
                "requirements are installed offline from code/wheels, so list plain requirements "
                "(name, version specifier, extras, markers)"
            )
        try:
            parsed = Requirement(line)
        except InvalidRequirement as error:
            reason = str(error)
        else:
            if parsed.url is None:
                continue
            reason = f"it points at {parsed.url}"
        raise PackagingError(
            f"{requirements}: '{line}' is not a requirement a wheel can satisfy ({reason}); "
            "allowed: a package name with a version specifier, extras and markers (URLs, "
            "paths and editable installs cannot be vendored)"
        )


def _shared_packages(images: Sequence[ServingImage]) -> dict[str, str | None]:
    """Packages every image has; a version only where all of them agree on it."""
    if not images:
        return {}
    names = set.intersection(*(set(image.packages) for image in images))
    shared: dict[str, str | None] = {}
    for name in sorted(names):
        versions = {image.packages[name] for image in images}
        shared[name] = versions.pop() if len(versions) == 1 else None
    return shared


def _vendor_into(
    folder: Path,
    requirements: Path,
    lines: Sequence[str],
    interpreters: Sequence[Interpreter],
    provided: Mapping[str, str | None],
    image_names: Sequence[str],
) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        (partial / "requested.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (partial / "constraints.txt").write_text(
            "".join(f"{name}=={version}\n" for name, version in provided.items() if version),
            encoding="utf-8",
        )
        selected: dict[tuple[str, str], dict[str, Any]] = {}
        needed_from_images: set[str] = set()
        for interpreter in interpreters:
            report = _resolve(partial, requirements, interpreter)
            chosen, reached = _select(report, interpreter, provided)
            needed_from_images |= reached
            for item in chosen:
                entry = selected.setdefault(
                    (item["name"], item["version"]), {**item, "interpreters": [], "hashes": set()}
                )
                entry["interpreters"].append(interpreter)
                entry["hashes"].add(item["sha256"])
        wheels_dir = partial / WHEELS_FOLDER
        wheels_dir.mkdir()
        for interpreter in interpreters:
            pins = [e for e in selected.values() if interpreter in e["interpreters"]]
            _download(partial, wheels_dir, pins, interpreter, requirements)
        wheels = _wheel_records(wheels_dir, selected)
        from_images = sorted(
            f"{name}=={provided[name]}" if provided.get(name) else name for name in needed_from_images
        )
        (partial / "requirements.txt").write_text(
            _requirements_text(requirements, selected, interpreters, image_names, from_images),
            encoding="utf-8",
        )
        (partial / "vendored.json").write_text(
            json.dumps({"images": list(image_names), "wheels": wheels, "from_images": from_images}, indent=2)
            + "\n",
            encoding="utf-8",
        )
        for name in ("requested.txt", "constraints.txt", "download.txt", "report.json"):
            (partial / name).unlink(missing_ok=True)
        try:
            os.replace(partial, folder)
        except OSError:
            if not (folder / "vendored.json").is_file():  # else a parallel build finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _pip(arguments: Sequence[str], *, doing: str, requirements: Path, interpreter: Interpreter) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check", "--quiet"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise PackagingError(
            f"{requirements}: {doing} for {interpreter.label} took over {PIP_TIMEOUT_SECONDS} s; "
            "check the network or the package index"
        ) from None
    if result.returncode != 0:
        errors = [
            line.strip().removeprefix("ERROR:").removeprefix("error:").strip()
            for line in result.stderr.splitlines()
            if line.strip().startswith(("ERROR:", "error:", "\u00d7", "\u2570"))  # pip's error boxes
        ]
        said = " ".join(errors[:4]) or result.stderr.strip()[-1000:]
        raise PackagingError(
            f"{requirements}: cannot vendor the requirements for {interpreter.label}: {doing} failed: "
            f"{said}. A network-isolated container installs them offline from code/wheels, so every "
            "requirement needs a wheel for this interpreter on the package index (pin a version that "
            "has one), and building needs the index once (later builds read build/wheels)"
        )


def _resolve(partial: Path, requirements: Path, interpreter: Interpreter) -> dict[str, Any]:
    report_path = partial / "report.json"
    _pip(
        [
            "install",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report_path),
            *interpreter.pip_target_options(),
            "-r",
            str(partial / "requested.txt"),
            "-c",
            str(partial / "constraints.txt"),
        ],
        doing="resolving",
        requirements=requirements,
        interpreter=interpreter,
    )
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    return report


def _select(
    report: Mapping[str, Any], interpreter: Interpreter, provided: Mapping[str, str | None]
) -> tuple[list[dict[str, str]], set[str]]:
    """The resolved packages reachable from the requested ones without passing through a package
    the image has, and the image's packages that were reached."""
    items = {canonicalize_name(item["metadata"]["name"]): item for item in report["install"]}
    environment = interpreter.marker_environment()
    pending = [
        (name, frozenset(item.get("requested_extras") or ()))
        for name, item in items.items()
        if item["requested"]
    ]
    seen: set[tuple[str, frozenset[str]]] = set()
    chosen: dict[str, dict[str, str]] = {}
    from_images: set[str] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name in provided:
            from_images.add(name)
            continue
        item = items[name]
        chosen[name] = {
            "name": name,
            "version": item["metadata"]["version"],
            "sha256": _sha256(item),
            "url": item["download_info"]["url"],
        }
        for text in item["metadata"].get("requires_dist") or ():
            requirement = Requirement(text)
            dependency = canonicalize_name(requirement.name)
            if dependency not in items or not _applies(requirement, environment, extras):
                continue
            pending.append((dependency, frozenset(requirement.extras)))
    return sorted(chosen.values(), key=lambda c: c["name"]), from_images


def _applies(requirement: Requirement, environment: Mapping[str, str], extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in [*extras, ""])


def _sha256(item: Mapping[str, Any]) -> str:
    archive = item["download_info"].get("archive_info", {})
    digest = archive.get("hashes", {}).get("sha256")
    if digest is None and str(archive.get("hash", "")).startswith("sha256="):
        digest = archive["hash"].removeprefix("sha256=")
    if digest is None:
        raise PackagingError(
            f"{item['metadata']['name']} {item['metadata']['version']}: the package index gave no sha256 "
            "for its wheel, so it cannot be pinned by hash"
        )
    return str(digest)


def _download(
    partial: Path,
    wheels_dir: Path,
    pins: Sequence[Mapping[str, Any]],
    interpreter: Interpreter,
    requirements: Path,
) -> None:
    if not pins:
        return
    listing = partial / "download.txt"
    listing.write_text(
        "".join(
            f"{pin['name']}=={pin['version']} "
            + " ".join(f"--hash=sha256:{digest}" for digest in sorted(pin["hashes"]))
            + "\n"
            for pin in pins
        ),
        encoding="utf-8",
    )
    _pip(
        [
            "download",
            "--no-deps",
            "--require-hashes",
            *interpreter.pip_target_options(),
            "--dest",
            str(wheels_dir),
            "-r",
            str(listing),
        ],
        doing="downloading wheels",
        requirements=requirements,
        interpreter=interpreter,
    )


def _wheel_records(
    wheels_dir: Path, selected: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[dict[str, str]]:
    records = []
    for path in sorted(wheels_dir.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        match = next(((n, v) for (n, v), e in selected.items() if digest in e["hashes"]), None)
        if match is None or path.suffix != ".whl":
            raise PackagingError(f"{path.name}: downloaded but not asked for (sha256 {digest})")
        records.append({"name": match[0], "version": match[1], "file": path.name, "sha256": digest})
    return records


def _requirements_text(
    requirements: Path,
    selected: Mapping[tuple[str, str], Mapping[str, Any]],
    interpreters: Sequence[Interpreter],
    image_names: Sequence[str],
    from_images: Sequence[str],
) -> str:
    header = [
        f"# Generated by model_packaging from {_label(requirements)} for {', '.join(image_names)}",
        f"# ({', '.join(i.label for i in interpreters)}). The container installs these at start-up",
        "# with no network: only the wheels in wheels/, each checked against its sha256.",
        f"# From the image: {', '.join(from_images) or 'nothing'}.",
        "--no-index",
        f"--find-links {WHEELS_FOLDER}",
    ]
    lines = []
    for (name, version), entry in sorted(selected.items()):
        marker = ""
        if len(entry["interpreters"]) != len(interpreters):
            marker = " ; " + " or ".join(
                f'(python_version == "{i.python_version}" and platform_machine == "{i.machine}")'
                for i in entry["interpreters"]
            )
        hashes = " ".join(f"--hash=sha256:{digest}" for digest in sorted(entry["hashes"]))
        lines.append(f"{name}=={version}{marker} {hashes}")
    return "\n".join(header + lines) + "\n"
