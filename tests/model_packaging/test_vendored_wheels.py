"""Vendored wheels: the dev artifact installs its requirements with the network forbidden, on the
serving image's Python (3.12), and its handler answers; what cannot be vendored is refused."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from endpoint_configs import ConfigError, load_environment_config
from model_packaging.build import BuiltArtifact
from model_packaging.environment import WHEEL_CACHE_DIR, build_environment_artifact
from model_packaging.errors import PackagingError
from model_packaging.wheels import (
    Interpreter,
    container_environment,
    serving_image,
    vendor_requirements,
)
from tests.conftest import REPO

pytestmark = pytest.mark.slow

DLC_CPU = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
SERVING_PYTHON = "3.12"


def _serving_python() -> str | None:
    """A Python 3.12 (the PyTorch 2.6 images' Python) on this machine, if there is one."""
    candidates = [shutil.which(f"python{SERVING_PYTHON}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{SERVING_PYTHON}*/bin/python3")))
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == SERVING_PYTHON:
            return candidate
    return None


def _offline(command: list[str]) -> list[str]:
    """``command`` in a new network namespace with no interfaces up, where unprivileged user
    namespaces are allowed; else as it is (pip's --no-index and an empty config still apply)."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], check=False).returncode == 0:
        return ["unshare", "-rn", *command]
    return command


def _pip_environment() -> dict[str, str]:
    """No pip configuration (this machine's names local indexes and wheel folders)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**environment, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def dev_artifact() -> BuiltArtifact:
    config = load_environment_config("dev")
    return build_environment_artifact(config, project_root=REPO, source="endpoint_configs/dev.yaml")


@pytest.fixture(scope="module")
def image_stand_in(dev_artifact: BuiltArtifact) -> Path:
    """Wheels of what the artifact relies on the image for (the manifest's ``from_images``) and of
    ``sagemaker-inference`` (the handler's error type), for Python 3.12: the image, minus torch."""
    dependencies = dev_artifact.manifest.dependencies
    assert dependencies is not None
    wanted = sorted(dependencies["from_images"])
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
    folder = REPO / "build" / "image-stand-in" / key
    if not (folder / ".complete").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        target = Interpreter(SERVING_PYTHON, "x86_64", "2.35").pip_target_options()
        pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "download", *target, "--dest", str(folder), *wanted], check=True)
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--wheel-dir", str(folder), "sagemaker-inference==1.10.1"],
            check=True,
        )
        (folder / ".complete").write_text("ok\n")
    return folder


def test_dev_artifact_vendors_wheels_for_the_image_and_pins_each_by_hash(dev_artifact: BuiltArtifact) -> None:
    dependencies = dev_artifact.manifest.dependencies
    assert dependencies is not None
    assert dependencies["images"] == ["pytorch-inference:2.6-cpu-py312"]
    assert dependencies["interpreters"] == [{"python": "3.12", "machine": "x86_64", "glibc": "2.35"}]
    vendored = {w["name"]: w for w in dependencies["wheels"]}
    assert {"onnxruntime", "tokenizers"} <= set(vendored)
    # the image has these: never shipped again (torch would be a CUDA build of several GB)
    assert not {"torch", "numpy", "nvidia-cublas-cu12", "triton"} & set(vendored)
    assert "numpy" in {entry.split("==")[0] for entry in dependencies["from_images"]}
    files = {f.path: f.sha256 for f in dev_artifact.manifest.files}
    with tarfile.open(dev_artifact.path) as archive:
        requirements = archive.extractfile("code/requirements.txt")
        assert requirements is not None
        lines = requirements.read().decode().splitlines()
    assert "--no-index" in lines
    assert "--find-links wheels" in lines
    for wheel in vendored.values():
        assert files[f"code/wheels/{wheel['file']}"] == wheel["sha256"]
        assert f"{wheel['name']}=={wheel['version']} --hash=sha256:{wheel['sha256']}" in lines


def test_vendored_artifact_installs_and_answers_on_python_312_with_the_network_forbidden(
    dev_artifact: BuiltArtifact, image_stand_in: Path, tmp_path: Path
) -> None:
    python = _serving_python()
    if python is None:
        pytest.skip(f"no Python {SERVING_PYTHON} here to stand in for the serving image's")
    model_dir = tmp_path / "model"
    with tarfile.open(dev_artifact.path) as archive:
        archive.extractall(model_dir, filter="data")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet"]
    environment = _pip_environment()
    # GIVEN the image's own packages, then the artifact's requirements, installed with no network
    install_image = [*pip, "install", "--no-index", "--no-deps", *map(str, image_stand_in.glob("*.whl"))]
    subprocess.run(_offline(install_image), check=True, env=environment)
    # WHEN the container's start-up install runs (sagemaker-pytorch-inference: pip install -r ...)
    started = subprocess.run(
        _offline([*pip, "install", "-r", str(model_dir / "code" / "requirements.txt")]),
        capture_output=True,
        text=True,
        env={**environment, **container_environment(dev_artifact.manifest.dependencies)},
        check=False,
    )
    assert started.returncode == 0, started.stderr
    # THEN the handler loads the model and answers, with no torch installed at all
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1] + '/code'); import inference as h\n"
        "model = h.model_fn(sys.argv[1])\n"
        "request = h.input_fn('{\"inputs\": [\"hello world\"]}', 'application/json')\n"
        "out = h.output_fn(h.predict_fn(request, model), 'application/json')\n"
        "vector = json.loads(out)['embeddings'][0]\n"
        "import importlib.util; print(json.dumps({'dimension': len(vector), "
        "'norm': sum(v * v for v in vector), 'torch': importlib.util.find_spec('torch') is not None}))\n"
    )
    answered = subprocess.run(
        _offline([str(venv / "bin" / "python"), "-c", script, str(model_dir)]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert answered.returncode == 0, answered.stderr
    result = json.loads(answered.stdout.strip().splitlines()[-1])
    assert result["dimension"] == 384
    assert result["norm"] == pytest.approx(1.0, abs=1e-4)
    assert result["torch"] is False


def test_a_second_vendoring_reads_the_cache_without_calling_pip(
    dev_artifact: BuiltArtifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although the wheels are cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    image = serving_image(DLC_CPU)
    assert image is not None
    vendored = vendor_requirements(
        REPO / "examples" / "minilm" / "onnx" / "requirements.txt", [image], REPO / WHEEL_CACHE_DIR
    )
    assert vendored is not None
    assert {w.name for w in vendored.wheels} == {
        w["name"] for w in (dev_artifact.manifest.dependencies or {})["wheels"]
    }


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-e .", "option -e is not vendored"),
        ("--index-url https://example.com/simple", "option --index-url is not vendored"),
        ("mypkg @ https://example.com/mypkg.tar.gz", "not a requirement a wheel can satisfy"),
    ],
)
def test_requirements_that_cannot_become_wheels_are_refused_before_pip_runs(
    tmp_path: Path, line: str, expected: str
) -> None:
    # GIVEN a requirements file with a line that names no index package
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"tokenizers==0.23.3\n{line}\n")
    image = serving_image(DLC_CPU)
    assert image is not None
    # WHEN it is vendored THEN one message names the file, the line and what is allowed
    with pytest.raises(PackagingError, match=expected) as error:
        vendor_requirements(requirements, [image], tmp_path / "cache")
    assert str(requirements) in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_a_requirement_without_a_wheel_for_the_image_fails_and_leaves_no_cache(tmp_path: Path) -> None:
    # GIVEN a package published only as a source archive (no wheel for any platform)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sagemaker-inference==1.10.1\n")
    image = serving_image(DLC_CPU)
    assert image is not None
    # WHEN it is vendored THEN the build fails, naming the requirement and the interpreter
    with pytest.raises(PackagingError) as error:
        vendor_requirements(requirements, [image], tmp_path / "cache")
    message = str(error.value)
    assert "cannot vendor the requirements for Python 3.12 x86_64" in message
    assert "sagemaker-inference==1.10.1" in message
    assert "network-isolated" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_plain_requirements_in_a_network_isolated_workload_are_refused(tmp_path: Path) -> None:
    # GIVEN dev with vendoring turned off, while its real-time endpoint runs network-isolated
    config = load_environment_config("dev")
    build = config.model.artifact.build
    assert build is not None
    config = config.model_copy(
        update={
            "model": config.model.model_copy(
                update={
                    "artifact": config.model.artifact.model_copy(
                        update={"build": build.model_copy(update={"vendor_dependencies": False})}
                    )
                }
            )
        }
    )
    # WHEN the artifact is built THEN the config error names the field and the workload
    with pytest.raises(ConfigError) as error:
        build_environment_artifact(config, project_root=REPO, source="endpoint_configs/dev.yaml")
    message = str(error.value)
    assert "model.artifact.build.vendor_dependencies" in message
    assert "endpoints[0] runs network-isolated" in message
    assert "allowed: true" in message
