"""What goes into an artifact: the model files at the root and the inference code under ``code/``.

Checks the inputs before anything is written: the model directory exists and holds weights,
``inference.py`` defines the handler functions (found by parsing, never by importing user code),
no symlink leaves its directory, and every file is readable. A separate requirements file may
stand in for the code folder's own ``requirements.txt`` (one handler, several serving images).
"""

from __future__ import annotations

import ast
import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from model_packaging.errors import PackagingError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf", ".h5", ".msgpack")
"""File endings that count as model weights."""

SKIPPED_NAMES = frozenset({".git", ".hg", ".svn", "__pycache__", ".DS_Store", ".ipynb_checkpoints"})
"""Folders and files never packaged (version control, caches)."""

DEFAULT_EXCLUDED = (".git*", ".hg*", "*.md", "README*")
"""File-name patterns left out unless the build says otherwise: version-control metadata
(``.gitattributes``, ``.gitignore``) and documentation, which a serving container never reads."""

REQUIRED_HANDLERS = ("model_fn",)
PREDICT_HANDLERS = ("predict_fn", "transform_fn")
"""``inference.py`` must define ``model_fn`` and one of these; input_fn/output_fn have defaults.
https://sagemaker.readthedocs.io/en/stable/frameworks/pytorch/using_pytorch.html#serve-a-pytorch-model"""

PACKAGE_SCHEME = "pkg://"


@dataclass(frozen=True)
class SourceFile:
    """One file of the artifact: where it goes in the archive and where it comes from."""

    archive_path: str
    source: Path
    size: int

    @property
    def is_weights(self) -> bool:
        return self.archive_path.endswith(WEIGHT_SUFFIXES)


def resolve_source_dir(location: str | Path, *, base: Path | None = None) -> Path:
    """A folder path, relative to ``base``, or ``pkg://package/sub/dir`` inside an installed package."""
    text = str(location)
    if text.startswith(PACKAGE_SCHEME):
        package, _, inner = text.removeprefix(PACKAGE_SCHEME).partition("/")
        try:
            root = resources.files(package)
        except ModuleNotFoundError:
            raise PackagingError(
                f"{text}: Python package '{package}' is not installed (run 'make install')"
            ) from None
        return Path(str(root.joinpath(inner))) if inner else Path(str(root))
    path = Path(text)
    return path if path.is_absolute() or base is None else base / path


REQUIREMENTS_PATH = "code/requirements.txt"


def collect_sources(
    model_dir: Path,
    code_dir: Path,
    *,
    excluded: Sequence[str] = DEFAULT_EXCLUDED,
    requirements: Path | None = None,
) -> list[SourceFile]:
    """Every file of the artifact, sorted by archive path, except names matching a pattern in
    ``excluded`` (``fnmatch`` style); ``requirements``, when given, is packaged as
    ``code/requirements.txt`` instead of the code folder's own. Raises ``PackagingError`` on bad input."""
    model_dir, code_dir = Path(model_dir), Path(code_dir)
    for label, folder in (("model directory", model_dir), ("code directory", code_dir)):
        if not folder.is_dir():
            raise PackagingError(f"{label} {folder} does not exist or is not a directory")
    check_inference_script(code_dir / "inference.py")
    override = None if requirements is None else _requirements_file(Path(requirements))
    model_files = _walk(model_dir, prefix="", excluded=excluded)
    if any(f.archive_path == "code" or f.archive_path.startswith("code/") for f in model_files):
        raise PackagingError(
            f"{model_dir} has its own code/ folder; the artifact's code/ comes from {code_dir}"
        )
    if not any(f.is_weights for f in model_files):
        raise PackagingError(
            f"no model weights in {model_dir}: expected a file ending in {', '.join(WEIGHT_SUFFIXES)}"
        )
    code_files = _walk(code_dir, prefix="code/", excluded=excluded)
    if override is not None:
        code_files = [f for f in code_files if f.archive_path != REQUIREMENTS_PATH] + [override]
    return sorted(model_files + code_files, key=lambda f: f.archive_path)


def _requirements_file(path: Path) -> SourceFile:
    if not path.is_file():
        raise PackagingError(f"requirements file {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise PackagingError(f"requirements file {path} is not readable")
    real = path.resolve()
    return SourceFile(archive_path=REQUIREMENTS_PATH, source=real, size=real.stat().st_size)


def check_inference_script(path: Path) -> None:
    """Parse ``inference.py`` and require the SageMaker handler functions."""
    if not path.is_file():
        raise PackagingError(f"{path} is missing: the artifact needs code/inference.py")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as error:
        raise PackagingError(f"{path}:{error.lineno}: not valid Python: {error.msg}") from None
    except OSError as error:
        raise PackagingError(f"{path}: cannot read: {error.strerror}") from None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    missing = [name for name in REQUIRED_HANDLERS if name not in defined]
    if not defined.intersection(PREDICT_HANDLERS):
        missing.append(" or ".join(PREDICT_HANDLERS))
    if missing:
        raise PackagingError(
            f"{path} does not define {', '.join(missing)}; a SageMaker handler needs model_fn and "
            "predict_fn (input_fn and output_fn are optional) or transform_fn"
        )


def _walk(root: Path, *, prefix: str, excluded: Sequence[str]) -> list[SourceFile]:
    resolved_root = root.resolve()
    found: list[SourceFile] = []
    for directory, folders, names in os.walk(root, followlinks=False):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_NAMES)
        here = Path(directory)
        for name in sorted(names) + [f for f in folders if (here / f).is_symlink()]:
            if name in SKIPPED_NAMES or any(fnmatch.fnmatch(name, pattern) for pattern in excluded):
                continue
            path = here / name
            real = path.resolve()
            if not real.exists():
                raise PackagingError(f"{path} is a broken symlink (to {real})")
            if not real.is_relative_to(resolved_root):
                raise PackagingError(
                    f"{path} is a symlink to {real}, outside {root}; copy the file in instead"
                )
            if real.is_dir():
                raise PackagingError(f"{path} is a symlink to a folder; only file links are followed")
            if not os.access(real, os.R_OK):
                raise PackagingError(
                    f"{path} is not readable (permissions {oct(real.stat().st_mode & 0o777)})"
                )
            relative = path.relative_to(root).as_posix()
            found.append(SourceFile(archive_path=prefix + relative, source=real, size=real.stat().st_size))
    return found
