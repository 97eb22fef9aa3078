"""The admission actor on real Ray, its journal on S3 (moto on loopback): killed and restarted by Ray in the middle
of a run, it still knows what it admitted and which record owns which document id."""

from __future__ import annotations

import os
import signal
import time

import pytest
import ray

from operators import storage
from operators.services.admission import AdmissionActor, DedupConfig, QuotaConfig
from operators.services.journal import Journal
from pipelines.config import StorageConfig
from tests.conftest import make_bucket


def _pid(_self) -> int:
    return os.getpid()


@pytest.fixture(scope="module")
def ray_local(s3_server):
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield s3_server
    ray.shutdown()


def test_admission_actor_restarted_by_ray_replays_its_journal(ray_local):
    endpoint, _ = ray_local
    make_bucket(endpoint, "journal")
    cfg = StorageConfig(endpoint_url=endpoint, region="us-east-1")
    path = "s3://journal/run.checkpoint.admission"

    def journal() -> Journal:
        return Journal(storage.fsspec_filesystem(path, cfg), storage.strip_scheme(path))

    actor = AdmissionActor.remote(QuotaConfig(per_domain={"Math": 1}), DedupConfig(threshold=0.7), 0.5, journal=journal)
    q = "Why does the daytime sky look blue to an observer standing on the ground at noon?"
    assert ray.get(actor.claim_documents.remote([("doc-1", "f#1")])) == [None]
    got = ray.get(actor.admit.remote([("a", "Natural Science", q), ("m", "Math", "Is zero even, and why?")]))
    assert [ok for ok, _, _ in got] == [True, True]
    before = ray.get(actor.__ray_call__.remote(_pid))

    os.kill(before, signal.SIGKILL)  # the process dies; Ray restarts the actor from its constructor
    deadline = time.time() + 120
    while True:
        assert time.time() < deadline, "the admission actor was not restarted"
        try:
            if ray.get(actor.__ray_call__.remote(_pid), timeout=30) != before:
                break
        except ray.exceptions.RayActorError:
            pass
        time.sleep(1)
    stats = ray.get(actor.stats.remote())
    assert stats["replayed"] == 2 and stats["accepted"] == {"Natural Science": 1, "Math": 1}
    assert ray.get(actor.claim_documents.remote([("doc-1", "g#7")])) == ["f#1"]
    got = ray.get(actor.admit.remote([("b", "Natural Science", q.upper()), ("n", "Math", "What is 2 + 2?")]))
    assert got[0] == (False, "dedup", "exact duplicate of candidate a") and got[1][1] == "quota"
    ray.kill(actor)
