"""Shared fixtures: a real S3 endpoint on loopback (moto's server, as s3fs's own tests use) and config helpers."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "documents.jsonl.gz"
MODEL_DIR = REPO / ".cache" / "models" / "SmolLM2-135M-Instruct"
ARES = [sys.executable, "-m", "pipelines.cli"]


def sample_records(n: int | None = None) -> list[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[:n] if n else rows


def run_stages(docs, cfg, *stages, services=None, llm=None):
    """Run stages in order over documents, each with its own context, as the pipeline's runner does."""
    from operators.stage import StageContext

    ctx = StageContext(cfg=cfg, llm=llm, services=services or {})
    for stage in stages:
        stage.run(docs, ctx.for_stage(stage.name))
    return docs


def read_row(key: str, text: str | None, doc_id: str | None = None, error: str | None = None, source: str = "f",
             row: int = 1):
    """A document as the reader hands it to the first stage."""
    from operators.state import DocumentState

    return DocumentState.from_read_row({"record_key": key, "doc_id": doc_id, "text": text, "source": source,
                                        "row": row, "error": error})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1; yields (endpoint_url, env with dummy credentials)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing-key-id",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-never-logged",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield f"http://127.0.0.1:{port}", env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def make_bucket(endpoint: str, name: str):
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    return s3


def put_jsonl_gz(s3, bucket: str, key: str, records: list[dict]) -> None:
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def read_output(endpoint: str, prefix: str):
    """(accepted table, rejected table, summary dict) read back with pyarrow through s3fs."""
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    afs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    tables = {}
    for status in ("accepted", "rejected"):
        path = f"{prefix}/{status}"
        tables[status] = pads.dataset(path, filesystem=afs, format="parquet").to_table() if fs.exists(path) else None
    summary = json.loads(fs.cat(f"{prefix}/summary.json"))
    return tables["accepted"], tables["rejected"], summary


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    assert (MODEL_DIR / "config.json").exists(), f"tiny model missing at {MODEL_DIR}: run `make setup` first"
    return MODEL_DIR


class Run:
    """`ares run ...` in its own session, its output watched line by line, killable at a chosen moment."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        import subprocess

        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ARES + args, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        self.lines: list[str] = []

    def wait_for(self, predicate, timeout: float = 900) -> str:
        """Read lines until `predicate(line)` holds; returns that line (fails if the run ends first)."""
        import select
        import time

        deadline = time.time() + timeout
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"run ended before the awaited line; log: {self.log_path}")
            self.lines.append(line)
            self.log.write(line)
            self.log.flush()
            if predicate(line):
                return line
        raise AssertionError(f"timed out waiting; log: {self.log_path}")

    def kill_driver(self) -> None:
        """SIGKILL the driver, then whatever of its session is left (the local Ray cluster it started)."""
        import signal

        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()

    def finish(self, timeout: float = 1500) -> int:
        """Wait for the run to end; past `timeout`, kill its session (no job left running) and fail with its log."""
        import signal
        import subprocess

        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
            self.log.write(out)
            self.log.close()
            raise AssertionError(f"the run did not finish within {timeout:g} s:\n{out[-3000:]}") from None
        self.log.write(out)
        self.log.close()
        self.lines.extend(out.splitlines(keepends=True))
        return self.proc.returncode

    @property
    def text(self) -> str:
        return "".join(self.lines)


SCRIPTED_CLIENT = "engines.default.client=tests.scripted_engine:ScriptedClient"


@pytest.fixture(scope="session")
def scripted_run(tmp_path_factory):
    """One real `ares run` (Ray, the streaming pipeline, the write) with the scripted engine client, so candidates
    are accepted, over 24 sample documents plus an unreadable record and a spam document, with a quota of 3 per
    domain (quota and duplicate rejects), three splits, and the learnability stage on (the scripted policy's K=4
    answers alternate between sound and flawed, so their rewards spread). Yields (output folder, the run's stdout, summary)."""
    import subprocess

    root = tmp_path_factory.mktemp("scripted")
    docs = root / "docs.jsonl"
    records = sample_records(24) + [{"id": "broken", "body": "no text field"},
                                    {"id": "spam", "text": "Cheap watches, cheap watches, cheap watches today! " * 60}]
    docs.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = root / "out"
    proc = subprocess.run(
        ARES + ["run", "local", SCRIPTED_CLIENT, f"input.path={docs}", f"output.path={out}",
                "input.limit_per_file=null", "stages.learnability.enabled=true",
                "engines.policy.client=tests.scripted_engine:ScriptedClient",
                "stages.admission.quota.default=3", "stages.admission.splits.train=0.5",
                "stages.admission.splits.validation=0.25", "stages.admission.splits.test=0.25"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield out, proc.stdout + proc.stderr, json.loads((out / "summary.json").read_text())
