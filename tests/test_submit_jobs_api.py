"""Submission through Ray's Jobs API to a real local head (`ray start --head`) with token authentication on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ARES, REPO, _free_port, sample_records

pytestmark = pytest.mark.e2e
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A head node in its own process (`--block`), shared by this module's tests, stopped by terminating it."""
    tmp_path = tmp_path_factory.mktemp("ray-head")
    port, dash = _free_port(), _free_port()
    # as a user with the project's virtual environment active: job drivers run `python` from the head's PATH
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dash}", "--include-dashboard=true", "--block", "--disable-usage-stats"],
        env=env, stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{dash}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/version", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # answering (401 without a token is fine)
        except OSError:
            time.sleep(2)
    else:
        proc.kill()
        raise AssertionError((tmp_path / "head.log").read_text()[-3000:])
    yield url
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_token_auth_is_on(ray_head):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{ray_head}/api/jobs/", timeout=10)
    assert err.value.code in (401, 403)


def test_submit_tiny_job_and_follow_it(ray_head, tiny_model, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in sample_records(3)))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}  # `ares` must find the token itself
    cmd = ARES + ["submit", "--address", ray_head, "--wait", "--timeout", "1200", "local",
                  f"input.path={docs}", f"output.path={out}", f"engines.default.model={tiny_model}",
                  "stages.synthesis.sampling.max_tokens=160"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    job_id = proc.stdout.split("submitted job ")[1].split(";")[0]
    assert f"job {job_id}: SUCCEEDED" in proc.stdout

    status = subprocess.run(ARES + ["status", job_id, "--address", ray_head], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    lines = status.stdout.splitlines()
    assert lines[0] == "SUCCEEDED"
    # under the state, the job's last progress table (from <output>/progress.json, found through the job metadata)
    assert lines[1].startswith("ARES ares-local: finished ")
    assert [ln.split()[0] for ln in lines[3:] if ln.strip()][-1] == "admission"
    logs = subprocess.run(ARES + ["logs", job_id, "--address", ray_head], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "ARES run finished" in logs.stdout
    token_file = Path.home() / ".ray" / "auth_token"
    if token_file.exists():
        assert token_file.read_text().strip() not in logs.stdout + proc.stdout + proc.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents_read"] == 3
    assert summary["candidates"] == summary["accepted"] + summary["rejected"] > 0
