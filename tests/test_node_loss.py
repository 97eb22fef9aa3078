"""A node lost mid-job, on a real multi-node Ray cluster on this machine (Ray's `cluster_utils.Cluster`: a head and
worker nodes, each its own raylet): the engine pool's node, then the admission actor's node, has its raylet killed
with SIGKILL while a batch is in flight; a fresh node with the same resources joins; the job finishes with every
document accounted for, no duplicate candidate, and the summary of an uninterrupted run.

The engine pool and the admission actor are placed by custom resources from config (`engines.default.resources`,
`ray.admission_resources`); the engine is the scripted client, slowed down so a batch is in flight long enough to be
cut (its outputs are deterministic; the tiny model's are not bitwise reproducible on the CPU)."""

from __future__ import annotations

import gzip
import json
import os
import signal

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from tests.conftest import Run, sample_records
from tests.slow_scripted_engine import STARTED

pytestmark = pytest.mark.e2e

N_DOCS = 8
STORE = 200 * 1024 * 1024
# Node death is noticed by the GCS's health checks: a few seconds here instead of Ray's default ~30 s.
HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_timeout_ms": 1000,
          "health_check_failure_threshold": 4}
# The engine node holds the engine actor and nothing else (no CPU for Ray Data's other tasks and actors to take).
ENGINE_NODE = dict(num_cpus=0, resources={"ares_engine": 1}, object_store_memory=STORE)
ADMISSION_NODE = dict(num_cpus=0, resources={"ares_admission": 1}, object_store_memory=STORE)
# Summary fields that describe the run, not the output.
RUN_FIELDS = ("seconds", "mode", "output", "admission")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=2, object_store_memory=STORE,
                                                          include_dashboard=False, _system_config=HEALTH))
    nodes = {"engine": c.add_node(**ENGINE_NODE), "admission": c.add_node(**ADMISSION_NODE)}
    yield c, nodes
    c.shutdown()


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in sample_records(N_DOCS))
    return path


def job(cluster_address: str, docs, out) -> list[str]:
    # --verbose: the engine actors' own lines, which this test waits for, reach the driver only then
    return ["run", "local", "--verbose", f"ray.address={cluster_address}", f"input.path={docs}", f"output.path={out}",
            "input.limit_per_file=null", "input.records_per_block=2", "engines.default.batch_size=2",
            # one batch at a time on the engine: "a batch went through and the next is in flight" is then a
            # point the test can wait for (with several in flight they may all finish together)
            "engines.default.max_concurrent_batches=1",
            "engines.default.client=tests.slow_scripted_engine:SlowScriptedClient", "engines.default.num_cpus=0",
            "engines.default.resources={ares_engine: 1}", "ray.admission_resources={ares_admission: 1}"]


ENV = {"RAY_DEDUP_LOGS": "0"}  # every engine line reaches the driver's log, undeduplicated


def read(out) -> tuple[pa.Table, dict]:
    tables = [pads.dataset(out / s, format="parquet").to_table(columns=["record_key", "candidate_id", "unit"])
              for s in ("accepted", "rejected") if (out / s).exists()]
    return pa.concat_tables(tables), json.loads((out / "summary.json").read_text())


def output_part(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in RUN_FIELDS}


@pytest.fixture(scope="module")
def uninterrupted(cluster, docs, tmp_path_factory):
    c, _ = cluster
    out = tmp_path_factory.mktemp("full") / "out"
    run = Run(job(c.address, docs, out), ENV, out.parent / "run.log")
    assert run.finish(timeout=900) == 0, run.text[-3000:]
    table, summary = read(out)
    assert summary["documents_read"] == N_DOCS and summary["candidates"] > 0
    assert summary["duplicate_candidate_ids"] == 0
    return table, summary


def raylet_pid(node) -> int:
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def kill_node_mid_batch(c, nodes, which: str, run: Run) -> None:
    """Once a batch has gone through and the next one is in flight: SIGKILL the node's raylet (its workers go with
    it), clear what is left of the node, and start a fresh node with the same resources."""
    run.wait_for(lambda line: "[ares] " in line and "candidates" in line, timeout=600)
    run.wait_for(lambda line: STARTED in line, timeout=600)
    node = nodes[which]
    os.kill(raylet_pid(node), signal.SIGKILL)
    c.remove_node(node, allow_graceful=False)
    nodes[which] = c.add_node(**(ENGINE_NODE if which == "engine" else ADMISSION_NODE))


@pytest.mark.parametrize("which", ["engine", "admission"])
def test_node_lost_mid_batch_then_replaced(cluster, docs, uninterrupted, tmp_path, which):
    c, nodes = cluster
    expected_rows, expected = uninterrupted
    out = tmp_path / "out"
    run = Run(job(c.address, docs, out), ENV, tmp_path / "run.log")
    kill_node_mid_batch(c, nodes, which, run)
    assert run.finish(timeout=900) == 0, run.text[-3000:]

    rows, summary = read(out)
    # every document accounted for: the same records, each written once, as in the uninterrupted run
    assert summary["documents_read"] == N_DOCS
    assert set(rows.column("record_key").to_pylist()) == set(expected_rows.column("record_key").to_pylist())
    ids = rows.column("candidate_id").to_pylist()
    assert summary["duplicate_candidate_ids"] == 0 and len(ids) == len(set(ids))
    assert sorted(ids) == sorted(expected_rows.column("candidate_id").to_pylist())
    assert output_part(summary) == output_part(expected)
    assert summary["admission"]["accepted"] == expected["admission"]["accepted"]
    if which == "admission":  # the actor was rebuilt on the fresh node from the committed output and its journal
        assert summary["admission"]["seeded"] + summary["admission"]["replayed"] > 0, summary["admission"]
