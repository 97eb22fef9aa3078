"""The project as a user installs it: a wheel built from the source, installed (not editable) into a clean virtual
environment, and run from a folder outside the repository, where nothing of the checkout can be found.

A second install of vLLM would cost ~4 GB and minutes, so the clean environment sees the project's dependencies
through one line in a .pth file naming this environment's site-packages: a .pth line only puts a folder on sys.path,
it does not run the .pth files inside it, so the editable install's finder stays off and `pipelines` can only come
from the wheel (checked: its module file lies in the clean environment)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".cache", "outputs", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache")


class Installed:
    def __init__(self, root: Path):
        self.root = root
        self.venv = root / "venv"
        self.bin = self.venv / "bin"
        self.site = Path(subprocess.check_output(
            [self.bin / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        self.cwd = root / "elsewhere"  # outside the repository
        self.cwd.mkdir(exist_ok=True)
        self.cache = root / "user-cache"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RAY_ADDRESS", "ARES_TINY_MODEL_DIR")}
        return {**env, "PATH": f"{self.bin}:{env['PATH']}", "XDG_CACHE_HOME": str(self.cache)}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], cwd=self.cwd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel-install")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=NOT_SOURCE)  # a clean source tree: no build/ left from an earlier build
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            root / "dist", src], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (root / "dist").glob("ares_on_ray-*.whl")
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True, timeout=300)
    inst = Installed(root)
    done = inst.run(inst.bin / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # the dependencies, after the project is installed (pip would otherwise see the editable install's metadata)
    (inst.site / "ares-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return inst


def test_the_project_comes_from_the_wheel(installed):
    got = installed.run(installed.bin / "python", "-c",
                        "import pipelines, operators, vllm; print(pipelines.__file__); print(operators.__file__)")
    assert got.returncode == 0, got.stderr[-2000:]
    for module_file in got.stdout.split():
        assert Path(module_file).is_relative_to(installed.site), module_file
    assert (installed.site / "pipelines" / "builtin" / "conf" / "local.yaml").is_file()
    assert (installed.bin / "ares").is_file()


def test_config_local_from_another_folder(installed):
    got = installed.run(installed.bin / "ares", "config", "local")
    assert got.returncode == 0, got.stderr[-2000:]
    cfg = json.loads(got.stdout)
    sample = installed.site / "pipelines" / "builtin" / "data" / "sample" / "documents.jsonl.gz"
    assert cfg["input"]["path"] == str(sample) and sample.is_file()  # relative to the packaged config
    assert cfg["output"]["path"] == str(installed.cwd / "outputs" / "local")  # where the command runs
    model = installed.cache / "ares-on-ray" / "models" / "SmolLM2-135M-Instruct"
    assert cfg["engines"]["default"]["model"] == str(model)  # the user's cache, not a checkout's .cache/
    # a command-line path is relative to the current folder
    got = installed.run(installed.bin / "ares", "config", "local", "input.path=mine/docs.jsonl")
    assert json.loads(got.stdout)["input"]["path"] == str(installed.cwd / "mine" / "docs.jsonl")


def test_config_cluster_from_another_folder(installed):
    got = installed.run(installed.bin / "ares", "config", "cluster", "input.path=s3://b/in/", "output.path=s3://b/out")
    assert got.returncode == 0, got.stderr[-2000:]
    cfg = json.loads(got.stdout)
    assert cfg["engines"]["judge"]["model"] == "/models/Qwen3-32B" and cfg["input"]["path"] == "s3://b/in/"


def test_prepare_model_and_a_short_local_run_from_another_folder(installed, tiny_model):
    # The converted model, where `ares prepare-model` puts it for an installed package (linked, not converted again:
    # the conversion itself is what `make setup` runs).
    target = installed.cache / "ares-on-ray" / "models" / "SmolLM2-135M-Instruct"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(tiny_model, target_is_directory=True)
    got = installed.run(installed.bin / "ares", "prepare-model")
    assert got.returncode == 0 and got.stdout.strip() == str(target), got.stdout + got.stderr[-2000:]

    got = installed.run(installed.bin / "ares", "run", "local", "input.limit_per_file=1",
                        "stages.synthesis.sampling.max_tokens=120", timeout=1200)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    summary = json.loads((installed.cwd / "outputs" / "local" / "summary.json").read_text())
    assert summary["documents_read"] == 1
    assert summary["candidates"] == summary["accepted"] + summary["rejected"]
