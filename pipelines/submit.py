"""Submit a job to a Ray cluster through the Jobs API, and follow it.

The config is merged and validated here, on the submitting machine, and shipped as one resolved YAML file beside
the project's code (the job's working_dir), so the cluster runs exactly what was checked. The code shipped is the
code this command runs (the `pipelines` and `operators` packages wherever they are installed: a checkout or
site-packages); the job's driver imports it from its working directory before any copy installed on the cluster.
Ray's token authentication is used whenever a token is available (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH` or
`~/.ray/auth_token`); nothing here turns it off. No credential is put into the runtime environment, the entrypoint
or a log: S3 keys come from the cluster nodes' own environment (see cluster/)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

import operators
import pipelines
from pipelines.config import Config

CODE_PACKAGES = (pipelines, operators)
SUBMITTED_CONFIG = "ares-submitted.yaml"
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def use_token_auth_if_available() -> bool:
    """Turn on Ray's token mode for this client when a token exists (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token) and the mode was not chosen explicitly. Ray's own helper does it: besides setting RAY_AUTH_MODE
    it reloads Ray's config, which `import ray` (anywhere before this) has already read."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    return maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def client(address: str | None):
    use_token_auth_if_available()
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address or os.environ.get("RAY_ADDRESS") or "http://127.0.0.1:8265")


def stage_working_dir(cfg: Config) -> str:
    """A temporary folder with the project's code and the resolved config, uploaded as the job's working_dir."""
    staging = tempfile.mkdtemp(prefix="ares-submit-")
    for package in CODE_PACKAGES:
        source = Path(package.__file__).resolve().parent
        shutil.copytree(source, Path(staging) / package.__name__, ignore=shutil.ignore_patterns("__pycache__"))
    resolved = cfg.model_copy(deep=True)
    resolved.ray.address = "auto"  # the driver runs on the cluster and joins it
    data = resolved.model_dump(mode="json")
    (Path(staging) / SUBMITTED_CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(data)))
    return staging


def submit(cfg: Config, address: str | None, verbose: bool = False) -> str:
    staging = stage_working_dir(cfg)
    try:
        job_id = client(address).submit_job(
            entrypoint=f"python -m pipelines.cli run {SUBMITTED_CONFIG}" + (" --verbose" if verbose else ""),
            runtime_env={"working_dir": staging},
            submission_id=f"{cfg.run_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            # where `ares status` finds the job's progress.json (the storage settings hold no secret)
            metadata={"run_name": cfg.run_name, "output": cfg.output.path,
                      "storage": cfg.storage.model_dump_json()},
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return job_id


def status(job_id: str, address: str | None) -> str:
    return str(client(address).get_job_status(job_id).value)


def status_with_progress(job_id: str, address: str | None) -> tuple[str, dict | None, str | None]:
    """(the job's state, its last progress snapshot or None, why there is none)."""
    from pipelines.config import StorageConfig
    from pipelines.progress import read_progress

    info = client(address).get_job_info(job_id)
    state = str(info.status.value)
    meta = info.metadata or {}
    if "output" not in meta:
        return state, None, "no progress: the job was not submitted by `ares submit`"
    storage_cfg = StorageConfig.model_validate_json(meta["storage"]) if meta.get("storage") else StorageConfig()
    try:
        snap = read_progress(meta["output"], storage_cfg)
    except Exception as exc:  # unreachable storage from this machine: the state is still worth printing
        return state, None, f"no progress: {meta['output']} cannot be read here ({type(exc).__name__})"
    if snap is None:
        return state, None, f"no progress written to {meta['output']} yet"
    return state, snap, None


def logs(job_id: str, address: str | None, follow: bool = False) -> None:
    c = client(address)
    if not follow:
        sys.stdout.write(c.get_job_logs(job_id))
        return

    async def tail() -> None:
        async for chunk in c.tail_job_logs(job_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    asyncio.run(tail())


def wait(job_id: str, address: str | None, timeout: float, poll: float = 5.0) -> str:
    deadline = time.time() + timeout
    while True:
        state = status(job_id, address)
        if state in TERMINAL or time.time() > deadline:
            return state
        time.sleep(poll)
