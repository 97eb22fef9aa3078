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
