"""A fresh machine installs exactly what we tested, and the installed package works without a checkout.

The wheel test follows ``infra/Dockerfile`` step by step without Docker (no engine runs here): it copies what
the Dockerfile's build stage copies, builds the wheel, installs it into a fresh venv with
``infra/install-from-lock.sh`` (the lock, torch, the wheel), checks that venv against the lock, and then runs
``recsmith`` from a folder outside the checkout up to a served campaign answering a request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import psutil
import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
DOCKERFILE = REPO_ROOT / "infra" / "Dockerfile"
FACES = ("recsmith", "models", "serving", "dags", "components", "orchestration")


def _uv() -> str:
    uv = Path(sys.executable).with_name("uv")
    return str(uv) if uv.exists() else "uv"


def _check_lock(python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(REPO_ROOT / "scripts" / "check_lock.py"), str(LOCK)], capture_output=True, text=True
    )


def test_this_environment_is_exactly_the_lock() -> None:
    done = _check_lock(sys.executable)
    assert done.returncode == 0, done.stderr


def test_the_lock_satisfies_every_requirement_of_pyproject() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LOCK.read_text(), flags=re.M)
    }
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name == "torch":  # installed from TORCH_SPEC beside the lock
            continue
        assert name in pins, f"{requirement} is in pyproject.toml but not in the lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"lock has {name}=={pins[name]}"


def test_the_lock_pins_every_package_with_hashes() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[2])
    for block in blocks:
        if block.strip() and not block.startswith("#"):
            assert re.match(r"^\S+==\S+", block) and "--hash=sha256:" in block, block[:200]


def _build_stage_copies() -> list[str]:
    """The source paths the Dockerfile's build stage copies into the wheel's source tree."""
    build_stage = DOCKERFILE.read_text().split("\nFROM ", 2)[1]
    return [source for line in re.findall(r"^COPY (.+) \S+$", build_stage, flags=re.M) for source in line.split()]


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in _build_stage_copies():
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    dist = tmp_path / "dist"
    subprocess.run([_uv(), "build", "--quiet", "--wheel", "--out-dir", str(dist), str(source)], check=True)
    (wheel,) = dist.glob("recsmith-*.whl")
    return wheel


def _outside_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSMITH_", "VIRTUAL_ENV", "PYTHONPATH"))}
    return {**env, "RECSMITH_HOME": str(home), "PYTHONNOUSERSITE": "1"}


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the CLI's process group (it stops its server), then kill whatever of the tree is left."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _, alive = psutil.wait_procs(tree, timeout=15)
    for leftover in alive:
        leftover.kill()


@pytest.mark.slow
@pytest.mark.integration
def test_the_built_wheel_serves_a_campaign_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "serving/service.py",
        "dags/recsmith_retrain.py",
        "dags/.airflowignore",
        "components/recsmith_pipeline.yaml",
        "orchestration/airflow_local.py",
        "models/sims/recipe.py",
        "recsmith/cli.py",
    ):
        assert expected in names, f"{expected} is not in {wheel.name}"

    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [str(REPO_ROOT / "infra" / "install-from-lock.sh"), python, str(wheel)],
        env={**os.environ, "UV": _uv(), "LOCK": str(LOCK)},
        cwd=tmp_path,
        check=True,
    )
    done = _check_lock(python)
    assert done.returncode == 0, done.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _outside_env(tmp_path / "home")
    recsmith = str(venv / "bin" / "recsmith")

    def run(*argv: str) -> dict:  # type: ignore[type-arg]
        done = subprocess.run([recsmith, *argv], cwd=outside, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout) if done.stdout.strip() else {}

    files = ", ".join(f"{face}.__file__" for face in FACES)
    where = subprocess.run(
        [python, "-c", f"import json, {', '.join(FACES)}; print(json.dumps([{files}]))"],
        cwd=outside, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    site = venv / "lib"
    for path in json.loads(where.stdout):
        assert Path(path).resolve().is_relative_to(site.resolve()), f"{path} is not from the installed wheel"

    assert "serve-campaign" in subprocess.run([recsmith, "--help"], cwd=outside, env=env, capture_output=True,
                                              text=True, check=True).stdout  # fmt: skip
    sample = run("generate-sample", "--output", "sample")
    run("create-dataset-group", "--name", "shop")
    run("create-schema", "--name", "shop-i", "--schema-file", f"file://{sample['interactions_schema']}")
    run("create-dataset", "--name", "shop-i", "--dataset-group", "shop", "--dataset-type", "INTERACTIONS",
        "--schema", "shop-i")  # fmt: skip
    run("create-dataset-import-job", "--dataset", "shop-i", "--data-location", sample["interactions"], "--wait")
    run("create-solution", "--name", "shop-pop", "--dataset-group", "shop", "--recipe", "popularity_count")
    version = run("create-solution-version", "--solution", "shop-pop", "--wait")["solutionVersionArn"]
    campaign = run("create-campaign", "--name", "shop-live", "--solution-version", version)["campaignArn"]

    port = _free_port()
    server = subprocess.Popen(
        [recsmith, "serve-campaign", "--campaign", "shop-live", "--port", str(port)],
        cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/recommendations",
                    json={"campaignArn": campaign, "userId": "u0001", "numResults": 3},
                    timeout=5,
                )
                if response.status_code == 200:
                    answer = response.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert answer is not None, f"the installed server never answered: exit {server.poll()}"
        assert len(answer["itemList"]) == 3
    finally:
        _stop_group(server)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
