"""Static checks of what cannot run here: the KubeRay manifest, the cluster-launcher YAML, the Dockerfile and the
cluster config (no Docker engine, no Kubernetes, no GPU on this machine)."""

from __future__ import annotations

import re

import yaml

from pipelines.config import load_config
from tests.conftest import REPO

IMAGE = "ghcr.io/CHANGE-ME/ares-on-ray:0.1.0"


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def test_rayjob_manifest():
    job = yaml.safe_load((REPO / "cluster" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["entrypoint"].split()[:3] == ["ares", "run", "conf/cluster.yaml"]
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}  # token authentication on, never off
    assert cluster["rayVersion"] == "2.60.0" and cluster["enableInTreeAutoscaling"] is True
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert all(c["image"] == IMAGE for c in containers(head["template"]))
    gpu = next(g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert 1 <= gpu["minReplicas"] <= gpu["maxReplicas"]
    (worker,) = containers(gpu["template"])
    assert worker["image"] == IMAGE
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= 2  # the judge's tensor_parallel_size fits a node
    assert {"secretRef": {"name": "ares-s3"}} in worker["envFrom"]  # S3 keys from a Secret, not from YAML values
    assert not re.search(r"AWS_SECRET_ACCESS_KEY\s*:\s*\S", (REPO / "cluster" / "rayjob.yaml").read_text())


def test_cluster_launcher_yaml():
    cfg = yaml.safe_load((REPO / "cluster" / "cluster-launcher.yaml").read_text())
    assert cfg["docker"]["image"] == IMAGE
    assert "-e RAY_AUTH_MODE=token" in cfg["docker"]["run_options"]
    assert cfg["head_node_type"] in cfg["available_node_types"]
    gpu = cfg["available_node_types"]["gpu"]
    assert gpu["min_workers"] <= gpu["max_workers"] <= cfg["max_workers"]
    assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])
    assert "ares submit" in (REPO / "cluster" / "cluster-launcher.yaml").read_text()


def test_dockerfile():
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"vllm/vllm-openai:v0\.33\.0(@sha256:[0-9a-f]{64})?", base), base  # pinned, CUDA vLLM
    assert '"ray[data,serve]==2.60.0"' in text and '"vllm==0.33.0"' in text
    for path in ("pipelines", "operators", "conf", "pyproject.toml"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), path
    assert re.search(r"^RUN pip install .*\"\.\[gpu\]\"", text, re.M)  # the project itself is installed
    assert re.search(r'^ENTRYPOINT \["ares"\]', text, re.M)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'ares = "pipelines.cli:main"' in pyproject  # what ENTRYPOINT runs


def test_cluster_config_validates_and_uses_gpu_pools():
    cfg = load_config("cluster", ["input.path=s3://b/in/", "output.path=s3://b/out"])
    judge = cfg.engines["judge"]
    assert judge.tensor_parallel_size == 2 and judge.num_gpus == 2
    assert cfg.engines["generator"].num_gpus == 1
    assert cfg.stages.faithfulness.engine == "judge" and cfg.stages.synthesis.engine == "generator"
    assert cfg.ray.expect_autoscaling
