"""Build a reproducible artifact: ``model-<hash>.tar.gz`` or an uncompressed ``model-<hash>/`` folder.

- Reproducible: entries sorted, mtime 0, uid/gid 0 without names, modes 0644/0755, gzip header
  without file name or time. The same inputs give the same bytes, and the name carries the hash.
- Fast: one streaming pass reads each file once, hashing it while ISA-L's gzip (``isal.igzip``,
  level 1) compresses; weights compress by about 8 %, so higher levels buy almost nothing.
  Memory stays bounded by the copy buffer.
- Atomic: everything is written under a ``.partial-*`` name and renamed at the end; a failed or
  interrupted build removes it, so no file that looks like an artifact is left behind.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import queue
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from isal import igzip

from model_packaging.errors import PackagingError
from model_packaging.manifest import FileEntry, Manifest, ModelFacts, read_model_facts
from model_packaging.progress import ByteProgress
from model_packaging.sources import DEFAULT_EXCLUDED, SourceFile, collect_sources
from model_packaging.wheels import VendoredDependencies

ArtifactFormat = Literal["tar.gz", "uncompressed"]
COPY_BUFFER = 1024**2
"""Bytes read from a source and compressed at a time."""
WRITE_CHUNK = 256 * 1024
"""Largest single write(): much larger writes spent most of their time in the kernel here."""
COPY_CHUNK = 64 * 1024
"""Read/write size for uncompressed copies (measured fastest on 2 cores: benchmarks/packaging)."""
GZIP_LEVEL = 1
DEFAULT_UNCOMPRESSED_ABOVE_BYTES = 10 * 1024**3
"""``auto`` format: above this total size the artifact stays uncompressed (S3 prefix)."""
EXECUTABLE_MODE, FILE_MODE = 0o755, 0o644


@dataclass(frozen=True)
class BuiltArtifact:
    """A finished artifact on disk and its manifest (written beside it)."""

    path: Path
    manifest_path: Path
    manifest: Manifest


def build_artifact(
    model_dir: Path,
    code_dir: Path,
    out_dir: Path,
    *,
    artifact_format: ArtifactFormat | Literal["auto"] = "auto",
    uncompressed_above_bytes: int = DEFAULT_UNCOMPRESSED_ABOVE_BYTES,
    show_progress: bool = True,
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
    model_facts: ModelFacts | None = None,
    vendored: VendoredDependencies | None = None,
    optimization: dict[str, Any] | None = None,
) -> BuiltArtifact:
    """Check the inputs, then write the artifact and its manifest into ``out_dir``; file names
    matching ``excluded`` (default: version-control and documentation files) stay out, and
    ``requirements`` (if given) becomes ``code/requirements.txt`` instead of the code folder's own.
    ``model_facts`` stands in for what the weight files say (weights no header describes).
    ``vendored`` (``model_packaging.wheels``) puts its wheels in ``code/wheels/`` and its offline
    requirements file in place of ``code/requirements.txt``, and is recorded in the manifest, as is
    ``optimization`` (how the model was shrunk, the accuracy gate's figures)."""
    sources = artifact_sources(
        model_dir, code_dir, excluded=excluded, requirements=requirements, vendored=vendored
    )
    total = sum(s.size for s in sources)
    if artifact_format == "auto":
        artifact_format = "uncompressed" if total > uncompressed_above_bytes else "tar.gz"
    out_dir = Path(out_dir)
    with _output_errors(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        progress = ByteProgress(total, f"packaging {Path(model_dir).name}", enabled=show_progress)
        with progress:
            extra = _ManifestExtras(None if vendored is None else vendored.manifest_entry(), optimization)
            if artifact_format == "tar.gz":
                return _build_archive(sources, out_dir, progress, model_facts, extra)
            return _build_directory(sources, out_dir, progress, model_facts, extra)


@dataclass(frozen=True)
class _ManifestExtras:
    dependencies: dict[str, Any] | None
    optimization: dict[str, Any] | None


def artifact_sources(
    model_dir: Path,
    code_dir: Path,
    *,
    excluded: Sequence[str],
    requirements: Path | None,
    vendored: VendoredDependencies | None,
) -> list[SourceFile]:
    """``collect_sources``, with the vendored wheels and requirements file when given."""
    sources = collect_sources(model_dir, code_dir, excluded=excluded, requirements=requirements)
    return sources if vendored is None else vendored.sources(sources)


def _build_archive(
    sources: list[SourceFile],
    out_dir: Path,
    progress: ByteProgress,
    facts: ModelFacts | None,
    extra: _ManifestExtras,
) -> BuiltArtifact:
    descriptor, partial_name = tempfile.mkstemp(prefix=".partial-", suffix=".tar.gz", dir=out_dir)
    partial = Path(partial_name)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            output = _HashingWriter(raw)
            # filename="" keeps the temporary name out of the gzip header; mtime=0 keeps the time out.
            gzip_stream = igzip.IGzipFile(  # type: ignore[no-untyped-call]
                filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=output, mtime=0
            )
            # "w", not the streaming "w|": the stream mode re-slices every chunk into 10 KiB records.
            with gzip_stream as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.copybufsize = COPY_BUFFER  # type: ignore[attr-defined]
                files = [_add_to_tar(tar, source, progress) for source in sources]
            digest = output.hexdigest()
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(partial, _public_mode(FILE_MODE))
        final = out_dir / f"model-{digest[:16]}.tar.gz"
        manifest = _manifest(final.name, "tar.gz", digest, output.size, files, sources, facts, extra)
        manifest_path = _write_manifest(out_dir, final.name, manifest)
        os.replace(partial, final)
        return BuiltArtifact(path=final, manifest_path=manifest_path, manifest=manifest)
    finally:
        partial.unlink(missing_ok=True)


def _build_directory(
    sources: list[SourceFile],
    out_dir: Path,
    progress: ByteProgress,
    facts: ModelFacts | None,
    extra: _ManifestExtras,
) -> BuiltArtifact:
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        files = []
        for source in sources:
            target = partial / source.archive_path
            target.parent.mkdir(parents=True, exist_ok=True)
            with _open_source(source) as reader, target.open("wb") as writer:
                hashing = _HashingReader(reader, progress)
                shutil.copyfileobj(hashing, writer, COPY_CHUNK)
            _check_size(source, hashing.size)
            os.chmod(target, _mode(source))
            os.utime(target, (0, 0))
            files.append(FileEntry(source.archive_path, hashing.size, hashing.hexdigest()))
        for folder in [partial, *(p for p in partial.rglob("*") if p.is_dir())]:
            os.chmod(folder, _public_mode(EXECUTABLE_MODE))
        digest = directory_digest(files)
        final = out_dir / f"model-{digest[:16]}"
        size = sum(f.size for f in files)
        manifest = _manifest(final.name, "uncompressed", digest, size, files, sources, facts, extra)
        manifest_path = _write_manifest(out_dir, final.name, manifest)
        if not final.exists():  # else: the same bytes, named by the same hash, are already there
            os.replace(partial, final)
        return BuiltArtifact(path=final, manifest_path=manifest_path, manifest=manifest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def directory_digest(files: list[FileEntry]) -> str:
    """The hash of an uncompressed artifact: sha256 over its sorted (path, size, sha256) lines."""
    listing = "".join(f"{f.path}\0{f.size}\0{f.sha256}\n" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(listing.encode()).hexdigest()


def _add_to_tar(tar: tarfile.TarFile, source: SourceFile, progress: ByteProgress) -> FileEntry:
    info = tarfile.TarInfo(source.archive_path)
    info.size = source.size
    info.mtime = 0
    info.mode = _mode(source)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with _open_source(source) as reader:
        hashing = _HashingReader(reader, progress)
        tar.addfile(info, hashing)
    _check_size(source, hashing.size)
    return FileEntry(source.archive_path, source.size, hashing.hexdigest())


def _public_mode(mode: int) -> int:
    """``mode`` less the process umask (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _mode(source: SourceFile) -> int:
    return EXECUTABLE_MODE if os.access(source.source, os.X_OK) else FILE_MODE


def _check_size(source: SourceFile, read: int) -> None:
    if read != source.size:
        raise PackagingError(f"{source.source} changed while packaging ({source.size} bytes, then {read})")


def _manifest(
    name: str,
    artifact_format: str,
    digest: str,
    size: int,
    files: list[FileEntry],
    sources: list[SourceFile],
    facts: ModelFacts | None,
    extra: _ManifestExtras,
) -> Manifest:
    if facts is None:
        facts = read_model_facts([s.source for s in sources if s.is_weights])
    return Manifest(
        artifact=name,
        format=artifact_format,
        sha256=digest,
        size=size,
        files=files,
        model=facts,
        dependencies=extra.dependencies,
        optimization=extra.optimization,
    )


def _write_manifest(out_dir: Path, artifact_name: str, manifest: Manifest) -> Path:
    stem = artifact_name.removesuffix(".tar.gz")
    path = out_dir / f"{stem}.manifest.json"
    _write_atomically(path, manifest.to_json())
    return path


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a unique temporary name beside ``path``, then rename: concurrent builds of
    the same inputs (parallel synths) never see or clobber a half-written file."""
    descriptor, partial = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, _public_mode(FILE_MODE))
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


@contextmanager
def _open_source(source: SourceFile) -> Iterator[BinaryIO]:
    try:
        handle = source.source.open("rb")
    except OSError as error:
        raise PackagingError(f"{source.source}: cannot read: {error.strerror}") from None
    with handle:
        yield handle


@contextmanager
def _output_errors(out_dir: Path) -> Iterator[None]:
    """Turn full or read-only output locations into one clear message."""
    try:
        yield
    except OSError as error:
        if isinstance(error, PackagingError):
            raise
        reasons = {
            errno.ENOSPC: "the output location is full",
            errno.EFBIG: "the file size limit was reached (ulimit -f)",
            errno.EDQUOT: "the disk quota of the output location is used up",
            errno.EROFS: "the output location is read-only",
            errno.EACCES: "no permission to write to the output location",
            errno.EPERM: "no permission to write to the output location",
        }
        reason = reasons.get(error.errno or 0, error.strerror or str(error))
        raise PackagingError(f"cannot write the artifact to {out_dir}: {reason}") from None


class _BackgroundHash:
    """sha256 on a worker thread: hashlib releases the GIL, so hashing overlaps reading,
    compressing and writing on another core. At most ``QUEUE_DEPTH`` chunks wait (bounded memory)."""

    QUEUE_DEPTH = 8

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUE_DEPTH)
        self._worker = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._worker.start()
        self._digest: str | None = None

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hash.update(chunk)

    def update(self, data: bytes) -> None:
        if data:
            self._chunks.put(bytes(data))

    def hexdigest(self) -> str:
        if self._digest is None:
            self._chunks.put(None)
            self._worker.join()
            self._digest = self._hash.hexdigest()
        return self._digest


class _HashingReader(io.RawIOBase):
    """Reads a source file once: hashes and counts what passes through, reports progress."""

    def __init__(self, handle: BinaryIO, progress: ByteProgress) -> None:
        self._handle = handle
        self._progress = progress
        self._hash = _BackgroundHash()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._hash.update(data)
        self.size += len(data)
        self._progress.advance(len(data))
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _HashingWriter(io.RawIOBase):
    """Hashes and counts the compressed bytes on their way to disk, in writes of ``WRITE_CHUNK``."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._hash = _BackgroundHash()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data)
        self._hash.update(data)
        for start in range(0, len(view), WRITE_CHUNK):
            self._handle.write(view[start : start + WRITE_CHUNK])
        self.size += len(view)
        return len(view)

    def flush(self) -> None:
        self._handle.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


BUILD_VERSION = 3
"""Part of the cache key: bump when the archive layout or bytes change."""


def build_artifact_cached(
    model_dir: Path,
    code_dir: Path,
    out_dir: Path,
    *,
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
    vendored: VendoredDependencies | None = None,
) -> BuiltArtifact:
    """``build_artifact`` as ``tar.gz``, skipped when the same inputs were built before.

    The cache key covers every input file's archive path, source path, size and modification time,
    so synth can call this each time at the cost of a directory listing; the output itself is
    reproducible anyway.
    """
    sources = artifact_sources(
        model_dir, code_dir, excluded=excluded, requirements=requirements, vendored=vendored
    )
    key = cache_key(f"{BUILD_VERSION}\0{GZIP_LEVEL}", sources)
    return cached_build(
        out_dir,
        key,
        lambda: build_artifact(
            model_dir,
            code_dir,
            out_dir,
            artifact_format="tar.gz",
            show_progress=False,
            excluded=excluded,
            requirements=requirements,
            vendored=vendored,
        ),
    )


def cache_key(header: str, sources: Sequence[SourceFile]) -> str:
    """sha256 over ``header`` and each source's archive path, source path, size and mtime."""
    listing = "".join(
        f"{s.archive_path}\0{s.source}\0{s.size}\0{s.source.stat().st_mtime_ns}\n" for s in sources
    )
    return hashlib.sha256(f"{header}\n{listing}".encode()).hexdigest()


def cached_build(out_dir: Path, key: str, build: Callable[[], BuiltArtifact]) -> BuiltArtifact:
    """The artifact recorded under ``key`` in ``out_dir/.cache`` if it is still there, else
    ``build()``'s, recorded under ``key`` for next time."""
    entry = Path(out_dir) / ".cache" / f"{key}.json"
    if entry.is_file():
        name = json.loads(entry.read_text(encoding="utf-8"))["artifact"]
        artifact = Path(out_dir) / name
        manifest_path = Path(out_dir) / f"{name.removesuffix('.tar.gz')}.manifest.json"
        if artifact.is_file() and manifest_path.is_file():
            manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
            return BuiltArtifact(path=artifact, manifest_path=manifest_path, manifest=manifest)
    built = build()
    with _output_errors(Path(out_dir)):
        entry.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(entry, json.dumps({"artifact": built.path.name}))
    return built
