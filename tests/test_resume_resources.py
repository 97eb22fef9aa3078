"""A job that resumes has one actor more than a fresh one: Ray Data's CheckpointFilter, which asks a whole CPU. A
config that fits a fresh run must fit its resume (locally the job gives the filter a logical CPU of its own), and a
cluster that cannot hold the filter is refused at start-up, never left waiting."""

from __future__ import annotations

import json

import pytest

from pipelines.config import load_config
from pipelines.resources import CHECKPOINT_FILTER_CPUS, ResourceError, check_schedulable
from pipelines.runner import engine_pools, group_stages
from tests.conftest import SCRIPTED_CLIENT, Run, sample_records

# the CPU stages and the read and write tasks at half a CPU: with the engine's half CPU, a fresh run fits 2 CPUs with
# room for one task; on resume the filter's whole CPU takes that room
HALF_CPU_TASKS = "ray.task_num_cpus=0.5"


def pools(cfg):
    return engine_pools(group_stages(cfg.active_stages(), cfg))


def test_the_check_counts_the_checkpoint_filter_when_resuming():
    cfg = load_config("local-two-engines")  # two engine pools of 0.5 CPU, CPU stages and tasks at 0.25
    check_schedulable(cfg, pools(cfg), [{"CPU": 2.0}])  # a fresh run fits 2 CPUs
    with pytest.raises(ResourceError, match=r"ask 2.5 CPU in all \(with Ray Data's checkpoint filter actor, 1 CPU, "
                                            r"which a resumed job adds\); the cluster has 2 CPU"):
        check_schedulable(cfg, pools(cfg), [{"CPU": 2.0}], resuming=True)
    check_schedulable(cfg, pools(cfg), [{"CPU": 2.0 + CHECKPOINT_FILTER_CPUS}], resuming=True)


@pytest.mark.e2e
def test_a_finished_job_run_again_resumes_and_changes_nothing(tmp_path):
    """The engine pool and the CPU stages fill the local 2 CPUs but for one task; rerun on its complete output, the
    job must finish (without the filter's own CPU it waited forever: the filter took the read task's place)."""
    cfg = load_config("local", [SCRIPTED_CLIENT, HALF_CPU_TASKS])
    check_schedulable(cfg, pools(cfg), [{"CPU": 2.0}])
    with pytest.raises(ResourceError):
        check_schedulable(cfg, pools(cfg), [{"CPU": 2.0}], resuming=True)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in sample_records(4)))
    out = tmp_path / "out"
    args = ["run", "local", f"input.path={docs}", f"output.path={out}", SCRIPTED_CLIENT, HALF_CPU_TASKS]

    def run(name: str) -> None:
        job = Run(args, {}, tmp_path / f"{name}.log")
        assert job.finish(timeout=300) == 0, job.text[-3000:]  # without the filter's CPU: no end, killed at 300 s

    run("first")
    before = json.loads((out / "summary.json").read_text())
    run("again")
    after = json.loads((out / "summary.json").read_text())
    assert after["mode"] == "resume"
    for key in ("documents_read", "candidates", "accepted", "rejected", "duplicate_candidate_ids"):
        assert after[key] == before[key], key
    assert after["accepted"] > 0
