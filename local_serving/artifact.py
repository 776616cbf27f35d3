"""Open a SageMaker model artifact (a directory or a ``model.tar.gz``) as a local model directory.

SageMaker extracts ``model.tar.gz`` into ``/opt/ml/model``; the inference toolkit then imports
``code/<SAGEMAKER_PROGRAM>`` (``inference.py``) from it and, before starting the model server, pip-installs
``code/requirements.txt``. Here a directory is used in place, and an archive is extracted into a fresh
temporary directory that :meth:`PreparedArtifact.cleanup` removes. Extraction refuses the whole archive,
before writing anything, if one member would land outside that directory (absolute or ``..`` paths,
links pointing outside) or is a device or FIFO. ``code/requirements.txt`` is not installed: pins that the
running interpreter does not satisfy are logged as warnings.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

DEFAULT_PROGRAM = "inference.py"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#]+))?\s*(?:[;#].*)?$")


class ArtifactError(Exception):
    """The artifact cannot be served: missing, not a directory or tar archive, unsafe, or no handler."""


@dataclass
class PreparedArtifact:
    """A model directory ready to serve, and whether it is a temporary extraction to remove."""

    source: Path
    model_dir: Path
    temporary: bool = False
    _cleaned: bool = field(default=False, repr=False)

    @property
    def code_dir(self) -> Path:
        """``<model_dir>/code``: the handler module and its requirements."""
        return self.model_dir / "code"

    def cleanup(self) -> None:
        """Remove the extraction directory (no-op for a directory artifact); safe to call twice."""
        if self.temporary and not self._cleaned:
            shutil.rmtree(self.model_dir, ignore_errors=True)
            logger.info("removed %s", self.model_dir)
        self._cleaned = True

    def __enter__(self) -> PreparedArtifact:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def prepare_artifact(artifact: str | os.PathLike[str], *, program: str = DEFAULT_PROGRAM) -> PreparedArtifact:
    """Use ``artifact`` in place (directory) or extract it safely to a temporary directory (tar archive).

    Raises :class:`ArtifactError` when the path is missing, is neither, is unsafe to extract, or
    has no ``code/<program>``.
    """
    source = Path(artifact).expanduser().resolve()
    if source.is_dir():
        prepared = PreparedArtifact(source=source, model_dir=source)
    elif source.is_file():
        if not tarfile.is_tarfile(source):
            raise ArtifactError(f"{source} is neither a directory nor a tar archive (model.tar.gz)")
        destination = Path(tempfile.mkdtemp(prefix="local-serving-"))
        prepared = PreparedArtifact(source=source, model_dir=destination, temporary=True)
        try:
            extract_archive(source, destination)
        except BaseException:
            prepared.cleanup()
            raise
        logger.info("extracted %s to %s", source, destination)
    else:
        raise ArtifactError(f"artifact {source} does not exist")

    handler = prepared.code_dir / program
    if not handler.is_file():
        prepared.cleanup()
        raise ArtifactError(
            f"{source} has no code/{program}: the SageMaker inference toolkit imports the handler "
            f"(model_fn, input_fn, predict_fn, output_fn) from code/ at the artifact root"
        )
    check_requirements(prepared.code_dir / "requirements.txt")
    return prepared


def extract_archive(archive: Path, destination: Path) -> None:
    """Extract the tar ``archive`` (any compression) into ``destination``, refusing unsafe members.

    Every member is checked first, so a refused archive writes nothing; extraction then also runs
    through tarfile's ``data`` filter.
    """
    root = destination.resolve()
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root)
            tar.extractall(root, members=members, filter="data")
    except tarfile.TarError as exc:
        raise ArtifactError(f"cannot extract {archive}: {exc}") from exc


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = member.name
    if PurePosixPath(name).is_absolute() or Path(name).is_absolute():
        raise ArtifactError(f"refusing archive member {name!r}: absolute path")
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise ArtifactError(f"refusing archive member {name!r}: it would be extracted outside {root}")
    if member.issym() or member.islnk():
        link = member.linkname
        # Symlink targets are relative to the member's directory; hard-link targets to the root.
        base = target.parent if member.issym() else root
        if PurePosixPath(link).is_absolute() or not (base / link).resolve().is_relative_to(root):
            raise ArtifactError(f"refusing archive member {name!r}: link to {link!r} points outside {root}")
    elif not (member.isfile() or member.isdir()):
        raise ArtifactError(f"refusing archive member {name!r}: not a regular file, directory or link")


def check_requirements(requirements: Path) -> list[str]:
    """Warn about pins in ``requirements`` the running interpreter does not satisfy; return them.

    The real container pip-installs ``code/requirements.txt`` at start-up; a local server runs with
    whatever is installed. Only ``name`` and ``name==version`` lines are checked.
    """
    if not requirements.is_file():
        return []
    problems: list[str] = []
    for line in requirements.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _PIN.match(line)
        if match is None:
            logger.info("requirements: not checked locally: %s", line)
            continue
        name, wanted = match.group(1), match.group(2)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{line} (not installed)")
            continue
        if wanted is not None and installed != wanted:
            problems.append(f"{line} (installed {installed})")
    for problem in problems:
        logger.warning("requirements: %s: the container would install it, this process does not", problem)
    return problems
