"""Static checks of what cannot run here (no Docker engine, no Kubernetes, no AWS, no GPU on this machine), each
against how Ray 2.60 and KubeRay really start nodes: the image's entrypoint as `docker run IMAGE bash` runs it, the
launcher YAML through Ray's own schema and config preparation, the IAM policy against the EC2 calls Ray's AWS node
provider makes, the KubeRay manifest's entrypoint against the configs the installed package ships."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from pipelines.config import builtin_configs, load_config
from tests.conftest import REPO

IMAGE = "ghcr.io/CHANGE-ME/ares-on-ray:0.1.0"
LAUNCHER = REPO / "cluster" / "cluster-launcher.yaml"
# vllm/vllm-openai's final stage declares `ENTRYPOINT ["vllm", "serve"]` and no CMD (vLLM's docker/Dockerfile).
BASE_IMAGE_ENTRYPOINT = ["vllm", "serve"]
SHELLS = {"bash", "/bin/bash", "sh", "/bin/sh"}


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


# ---- the image ---------------------------------------------------------------------------------------------------

def _exec_form(instruction: dict) -> list[str]:
    value = instruction["value"].strip()
    if value.startswith("["):
        return json.loads(value)
    return ["/bin/sh", "-c", value]  # Docker's shell form


def image_argv(dockerfile: Path, run_args: list[str], base_entrypoint: list[str]) -> list[str]:
    """What `docker run IMAGE *run_args` executes, by Docker's rules: the last ENTRYPOINT of the final stage (else
    the base image's) followed by the run arguments, or by the image's CMD when there are none. An ENTRYPOINT
    set in the Dockerfile clears the CMD inherited from the base image."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(dockerfile))
    stage: list[dict] = []
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            stage = []
        else:
            stage.append(ins)
    entrypoints = [_exec_form(i) for i in stage if i["instruction"] == "ENTRYPOINT"]
    cmds = [_exec_form(i) for i in stage if i["instruction"] == "CMD"]
    entrypoint = entrypoints[-1] if entrypoints else base_entrypoint
    cmd = cmds[-1] if cmds else []
    return entrypoint + (run_args or cmd)


def test_docker_run_image_bash_starts_a_shell():
    """Ray's cluster launcher starts every node with `docker run ... IMAGE bash` and then `docker exec`s into it;
    a base or project ENTRYPOINT in front of `bash` (`vllm serve bash`, `ares bash`) would exit at once."""
    argv = image_argv(REPO / "Dockerfile", ["bash"], BASE_IMAGE_ENTRYPOINT)
    assert argv[0] in SHELLS and argv[1:] in ([], ["bash"]), argv
    assert image_argv(REPO / "Dockerfile", ["ares", "run", "cluster"], BASE_IMAGE_ENTRYPOINT)[:1] == ["ares"]


def test_entrypoint_semantics_catch_the_old_images(tmp_path):
    """The rule above, on the image as it was (ENTRYPOINT ["ares"]) and on the bare base image."""
    old = tmp_path / "old" / "Dockerfile"
    old.parent.mkdir()
    old.write_text('FROM vllm/vllm-openai:v0.33.0\nENTRYPOINT ["ares"]\nCMD ["--help"]\n')
    assert image_argv(old, ["bash"], BASE_IMAGE_ENTRYPOINT) == ["ares", "bash"]
    bare = tmp_path / "bare" / "Dockerfile"
    bare.parent.mkdir()
    bare.write_text("FROM vllm/vllm-openai:v0.33.0\nRUN true\n")
    assert image_argv(bare, ["bash"], BASE_IMAGE_ENTRYPOINT) == ["vllm", "serve", "bash"]


def test_dockerfile_installs_the_project_as_a_wheel_with_what_ray_needs():
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"vllm/vllm-openai:v0\.33\.0(@sha256:[0-9a-f]{64})?", base), base  # pinned, CUDA vLLM
    assert '"ray[default,data,serve]==2.60.0"' in text and '"vllm==0.33.0"' in text
    install = re.search(r"^RUN python3 -m pip install [^\n]*\\\n[^\n]*", text, re.M).group(0)
    assert '"/tmp/ares-src[gpu]"' in install and "rm -rf /tmp/ares-src" in install  # a wheel install, no source left
    assert "-e " not in install
    for path in ("pipelines", "operators", "conf", "data/sample", "setup.py", "pyproject.toml"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), path  # what the wheel is built from
    for package in ("rsync", "openssh-client"):  # `rsync -e 'docker exec'` into the container; the head's SSH
        assert re.search(rf"apt-get install [^\n]*\b{package}\b", text), package
    assert 'ares = "pipelines.cli:main"' in (REPO / "pyproject.toml").read_text()


# ---- Ray's cluster launcher (AWS) -------------------------------------------------------------------------------

def launcher() -> dict:
    return yaml.safe_load(LAUNCHER.read_text())


def test_launcher_yaml_passes_rays_own_schema_and_preparation():
    """The same steps `ray up` takes before it contacts AWS (ray.autoscaler._private.commands._bootstrap_config):
    prepare_config (defaults, docker config, node type bounds), then validate_config (ray-schema.json)."""
    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = launcher()
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(raw, schema)  # the file as written
    prepared = prepare_config(raw)
    validate_config(prepared)
    # what Ray filled in must not undo the file: no setup commands (Ray's default pip-installs boto3 on the head)
    assert prepared["setup_commands"] == prepared["head_setup_commands"] == prepared["worker_setup_commands"] == []
    assert prepared["docker"]["image"] == IMAGE


def test_launcher_sets_an_image_id_on_every_node_type():
    """Without ImageId Ray uses its DEFAULT_AMI (Deep Learning AMI, Ubuntu 18.04, CUDA 11.2): too old a driver."""
    from ray.autoscaler._private.aws.config import DEFAULT_AMI

    cfg = launcher()
    ids = {name: t["node_config"].get("ImageId") for name, t in cfg["available_node_types"].items()}
    assert all(ids.values()), ids
    assert not set(ids.values()) & set(DEFAULT_AMI.values())
    assert "base-oss-nvidia-driver-gpu-ubuntu-24.04" in LAUNCHER.read_text()  # where the user gets the id


WRITERS = {"mkdir", "tee", "chmod", "chown", "cp", "mv", "rm", "touch", "ln"}


def host_writes_without_sudo(command: str) -> list[str]:
    """Simple commands of a shell line that write under /opt without sudo (initialization_commands run on the host
    as auth.ssh_user, not root)."""
    bad = []
    for part in re.split(r"&&|\|\||;|\|", command):
        words = shlex.split(part)
        if not words or "/opt" not in part:
            continue
        redirect = re.search(r">\s*/opt/", part)
        if words[0] != "sudo" and (words[0] in WRITERS or redirect):
            bad.append(part.strip())
    return bad


def test_initialization_commands_write_under_opt_only_with_sudo():
    cfg = launcher()
    lists = [cfg["initialization_commands"]] + [t.get("initialization_commands", [])
                                                  for t in cfg["available_node_types"].values()]
    commands = [c for cmds in lists for c in cmds]
    assert commands and not [bad for c in commands for bad in host_writes_without_sudo(c)]
    assert host_writes_without_sudo("mkdir -p /opt/models") == ["mkdir -p /opt/models"]  # the old line
    # every node type reads the token before its container starts (a node type's list replaces the cluster's)
    for name, node_type in cfg["available_node_types"].items():
        cmds = node_type.get("initialization_commands", cfg["initialization_commands"])
        assert any("ares-ray-token" in c for c in cmds), name


def test_launcher_mounts_what_the_containers_read():
    cfg = launcher()
    opts = cfg["docker"]["run_options"]
    assert "-e RAY_AUTH_MODE=token" in opts
    token_path = next(o.split("=", 1)[1] for o in opts if o.startswith("-e RAY_AUTH_TOKEN_PATH="))
    mounts = [o.split()[1].split(":") for o in opts if o.startswith("-v ")]
    assert any(token_path.startswith(dst + "/") for _, dst, *_ in mounts)
    gpu_opts = cfg["available_node_types"]["gpu"]["docker"]["worker_run_options"]
    cluster = load_config("cluster", ["input.path=s3://b/in/", "output.path=s3://b/out"])
    gpu_mounts = [o.split()[1].split(":")[1] for o in gpu_opts if o.startswith("-v ")]
    for engine in cluster.engines.values():  # the model folders conf/cluster.yaml names are mounted on GPU nodes
        assert any(engine.model.startswith(dst.rstrip("/") + "/") for dst in gpu_mounts), engine.model
    assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])


# EC2 calls of Ray 2.60's AWS node provider (ray/autoscaler/_private/aws/node_provider.py) -> the IAM action each needs.
NODE_PROVIDER_CALLS = {
    r"\.create_instances\(": "ec2:RunInstances",
    r"create_tags\(": "ec2:CreateTags",
    r"\.terminate\(|terminate_instances\(": "ec2:TerminateInstances",
    r"\.stop\(|stop_instances\(": "ec2:StopInstances",
    r"\.start\(": "ec2:StartInstances",
    r"instances\.filter\(": "ec2:DescribeInstances",
    r"describe_instance_types\(": "ec2:DescribeInstanceTypes",
    r"describe_images\(": "ec2:DescribeImages",
}


def policy_actions(name: str) -> set[str]:
    policy = json.loads((REPO / "cluster" / name).read_text())
    actions: set[str] = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        actions |= set([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return actions


def test_head_instance_profile_allows_what_rays_autoscaler_does():
    """A given IamInstanceProfile replaces the role Ray would create, so it must allow Ray's EC2 calls and passing
    the workers' role, besides the data bucket and the token secret."""
    import ray.autoscaler._private.aws.node_provider as provider

    source = Path(provider.__file__).read_text()
    called = {action for pattern, action in NODE_PROVIDER_CALLS.items() if re.search(pattern, source)}
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "ec2:CreateTags", "ec2:DescribeInstances"} <= called
    head = policy_actions("aws-iam-head-policy.json")
    assert called <= head, called - head
    assert "iam:PassRole" in head and {"s3:GetObject", "s3:PutObject", "secretsmanager:GetSecretValue"} <= head
    cfg = launcher()
    head_type = cfg["available_node_types"][cfg["head_node_type"]]["node_config"]
    assert head_type["IamInstanceProfile"] == {"Name": "ares-ray-head"}
    assert "aws-iam-head-policy.json" in LAUNCHER.read_text()  # said where the user sets the profile
    worker = policy_actions("aws-iam-worker-policy.json")
    assert not {a for a in worker if a.startswith(("ec2:", "iam:"))}  # workers manage nothing
    assert {"s3:GetObject", "secretsmanager:GetSecretValue"} <= worker


# ---- KubeRay ------------------------------------------------------------------------------------------------------

def test_rayjob_manifest():
    job = yaml.safe_load((REPO / "cluster" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    args = shlex.split(spec["entrypoint"])
    assert args[:2] == ["ares", "run"]
    # the config is one the installed package ships (no checkout in the image), and it loads with these overrides
    assert args[2] in builtin_configs()
    cfg = load_config(args[2], args[3:])
    assert cfg.input.path.startswith("s3://") and cfg.output.path.startswith("s3://")
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}  # token authentication on, never off
    # rayVersion >= 2.53: KubeRay probes the node over HTTP (/api/healthz) instead of wget inside the image
    assert cluster["rayVersion"] == "2.60.0" and cluster["enableInTreeAutoscaling"] is True
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    for group in [head] + cluster["workerGroupSpecs"]:
        for c in containers(group["template"]):
            assert c["image"] == IMAGE
            assert "command" not in c and "args" not in c  # KubeRay writes `/bin/bash -c -- "... ray start ..."`
    gpu = next(g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert 1 <= gpu["minReplicas"] <= gpu["maxReplicas"]
    (worker,) = containers(gpu["template"])
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= 2  # the judge's tensor_parallel_size fits a node
    assert {"secretRef": {"name": "ares-s3"}} in worker["envFrom"]  # S3 keys from a Secret, not from YAML values
    mounts = [m["mountPath"] for m in worker["volumeMounts"]]
    for engine in cfg.engines.values():
        assert any(engine.model.startswith(m.rstrip("/") + "/") for m in mounts), engine.model
    assert not re.search(r"AWS_SECRET_ACCESS_KEY\s*:\s*\S", (REPO / "cluster" / "rayjob.yaml").read_text())


def test_cluster_config_validates_and_uses_gpu_pools():
    cfg = load_config("cluster", ["input.path=s3://b/in/", "output.path=s3://b/out"])
    judge = cfg.engines["judge"]
    assert judge.tensor_parallel_size == 2 and judge.num_gpus == 2
    assert cfg.engines["generator"].num_gpus == 1
    assert cfg.stages.faithfulness.engine == "judge" and cfg.stages.synthesis.engine == "generator"
    assert cfg.ray.expect_autoscaling
