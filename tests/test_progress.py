"""Progress while a job runs: per stage counts from the runner's batches, the table people read, the estimated time
left with a target, a quiet console by default and Ray's own output back with --verbose."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from operators.services.progress import Progress, StageRecorder, stage_unit
from operators.stage import stage
from operators.state import Candidate
from pipelines.ares import FLOW
from pipelines.config import load_config
from pipelines.progress import eta_seconds, format_progress, target_accepted
from tests.conftest import ARES, REPO, SCRIPTED_CLIENT, read_row

BY_NAME = {s.name: s for s in FLOW}


class FakeActor:
    """Stands in for the progress actor's handle: `add.remote(batch)` lands in a real `Progress`."""

    def __init__(self):
        self.progress = Progress()
        self.add = self

    def remote(self, name, counts):
        self.progress.add(name, counts)


def test_units_follow_the_stage_contracts():
    assert stage_unit(BY_NAME["document_filter"]) == "documents"
    assert stage_unit(BY_NAME["plan"]) == "documents"  # it takes documents and makes candidates
    assert stage_unit(BY_NAME["synthesis"]) == "candidates"
    assert stage_unit(BY_NAME["admission"]) == "candidates"


def _docs(n):
    return [read_row(f"f#{i}", "text " * 100, doc_id=f"d{i}", row=i) for i in range(n)]


def test_recorder_counts_what_each_stage_did_per_batch_and_the_actor_sums_batches():
    def reject_first(docs, ctx):
        docs[0].record("doc_check", False, "no")

    def make_two_each(docs, ctx):  # one candidate per document goes on, one is refused at birth
        for d in docs:
            if d.alive:
                d.candidates = [Candidate(candidate_id=f"{d.record_key}-{k}", chunk_index=0, persona="p",
                                          domain="Math") for k in range(2)]
                d.candidates[1].record("quota", False, "full")

    def judge(docs, ctx):
        for d in docs:
            for c in d.live_candidates():
                c.record("judge", c.candidate_id.endswith("#1-0"), "verdict")

    def admit(docs, ctx):
        for d in docs:
            for c in d.live_candidates():
                c.status = "accepted"

    stages = [stage("doc_check", reject_first, "x"),
              stage("maker", make_two_each, "x", writes=["document.candidates", "candidate.candidate_id"]),
              stage("judge", judge, "x", reads=["candidate.question"]),
              stage("admit", admit, "x", writes=["candidate.status"])]
    actor = FakeActor()
    recorder = StageRecorder(actor)
    for _ in range(2):  # two batches of 3 documents
        docs = _docs(3)
        for s in stages:
            with recorder.stage(s, docs):
                s.run(docs, None)
    snap = actor.progress.snapshot()["stages"]
    assert (snap["doc_check"]["rows_in"], snap["doc_check"]["rows_out"], snap["doc_check"]["rejected"]) == (6, 4, 2)
    assert snap["doc_check"]["unit"] == "documents"
    # the maker: 4 documents in, 8 candidates made, 4 go on, 4 refused at birth
    assert (snap["maker"]["rows_in"], snap["maker"]["candidates_made"], snap["maker"]["rows_out"],
            snap["maker"]["rejected"]) == (4, 8, 4, 4)
    # the judge passes f#1-0 of each batch only
    assert (snap["judge"]["unit"], snap["judge"]["rows_in"], snap["judge"]["rows_out"],
            snap["judge"]["rejected"]) == ("candidates", 4, 2, 2)
    assert (snap["admit"]["rows_in"], snap["admit"]["rows_out"], snap["admit"]["accepted"]) == (2, 2, 2)
    assert snap["judge"]["rows_per_second"] is None or snap["judge"]["rows_per_second"] > 0


def test_recorder_counts_a_stages_cpu_time_not_its_waiting():
    """A stage that waits (as on an engine's answer) spends wall time but no CPU; one that computes spends both."""
    import time

    def waits(docs, ctx):
        time.sleep(0.2)

    def computes(docs, ctx):
        end = time.thread_time() + 0.1
        while time.thread_time() < end:
            pass

    actor = FakeActor()
    recorder = StageRecorder(actor)
    docs = _docs(2)
    for s in (stage("waits", waits, "x"), stage("computes", computes, "x")):
        with recorder.stage(s, docs):
            s.run(docs, None)
    snap = actor.progress.snapshot()["stages"]
    assert snap["waits"]["busy_seconds"] >= 0.2 and snap["waits"]["cpu_seconds"] < 0.05
    assert snap["computes"]["cpu_seconds"] >= 0.1


def test_recorder_without_an_actor_counts_nothing_and_changes_nothing():
    recorder = StageRecorder(None)
    docs = _docs(2)
    with recorder.stage(BY_NAME["document_filter"], docs):
        docs[0].record("document_filter", False, "short")
    assert not docs[0].alive and docs[1].alive


def test_eta_from_this_runs_acceptance_rate():
    assert eta_seconds(accepted=30, accepted_before=10, target=110, elapsed=100.0) == pytest.approx(400.0)
    assert eta_seconds(accepted=10, accepted_before=10, target=110, elapsed=100.0) is None  # nothing accepted yet
    assert eta_seconds(accepted=120, accepted_before=0, target=110, elapsed=5.0) == 0.0
    assert eta_seconds(accepted=5, accepted_before=0, target=None, elapsed=5.0) is None


def test_target_is_the_sum_of_quotas_when_every_domain_has_one():
    assert target_accepted(load_config("local")) is None  # no quota: the job runs until its input ends
    cfg = load_config("local", ["stages.admission.quota.default=4", "stages.admission.quota.per_domain.Math=10"])
    assert target_accepted(cfg) == 9 * 4 + 10
    cfg = load_config("local", ["stages.admission.quota.per_domain.Math=10"])
    assert target_accepted(cfg) is None  # the other domains are unbounded


def test_the_table_shows_every_stage_with_its_counts_and_the_time_left():
    snap = {"run_name": "demo", "state": "running", "elapsed": 125.0, "accepted": 40, "target": 100,
            "eta_seconds": 3 * 3600 + 7 * 60,
            "stages": [{"stage": "ingest", "unit": "documents", "rows_in": 120, "rows_out": 118, "rejected": 2,
                        "errored": 1, "candidates_made": 0, "rows_per_second": 0.96},
                       {"stage": "plan", "unit": "documents", "rows_in": 118, "rows_out": 236, "rejected": 0,
                        "errored": 0, "candidates_made": 236, "rows_per_second": None}]}
    text = format_progress(snap)
    assert text.splitlines()[0] == "ARES demo: running 2m05s, accepted 40 of target 100, about 3h07m left"
    ingest = next(line for line in text.splitlines() if line.startswith("ingest"))
    assert ingest.split() == ["ingest", "documents", "120", "118", "2", "1", "0.96"]
    plan = next(line for line in text.splitlines() if line.startswith("plan"))
    assert plan.split() == ["plan", "documents", "->", "candidates", "118", "236", "0", "0", "-"]


def _last_table(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if re.match(r"ARES \S+: finished ", line))
    table = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        table[line.split()[0]] = line.split()
    return table


@pytest.mark.e2e
def test_a_run_is_quiet_and_its_final_table_agrees_with_the_output(scripted_run):
    out, stdout, summary = scripted_run
    # none of Ray's, Ray Data's or the engine actors' own lines
    for noise in ("logging_progress", "Running Dataset", "(MapWorker", "streaming_executor",
                  "Started a local Ray instance", "[ares] ingest"):
        assert noise not in stdout, noise
    table = _last_table(stdout)
    scripted = load_config("local", ["stages.learnability.enabled=true"])  # as the scripted run has it
    assert [name for name in table] == [s.name for s in scripted.active_stages()]
    # columns: stage unit in out rejected errors rows/s (the maker's unit is "documents -> candidates")
    assert int(table["ingest"][2]) == summary["documents_read"]
    assert int(table["ingest"][4]) == summary["documents_rejected_by_stage"]["read"]
    assert int(table["document_filter"][4]) == summary["documents_rejected_by_stage"]["document_filter"]
    plan = table["plan"]
    assert int(plan[5]) + int(plan[6]) == summary["candidates"]  # went on + refused at birth
    assert int(table["admission"][3]) == summary["accepted"]
    progress = json.loads((out / "progress.json").read_text())
    assert progress["state"] == "finished" and progress["accepted"] == summary["accepted"]
    assert progress["target"] == 10 * 3  # quota.default=3 over the ten domains


@pytest.mark.e2e
def test_verbose_brings_back_ray_and_engine_output(tmp_path):
    proc = subprocess.run(
        ARES + ["run", "local", "--verbose", SCRIPTED_CLIENT, "input.limit_per_file=2",
                f"output.path={tmp_path / 'out'}"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert "Started a local Ray instance" in text  # Ray's INFO lines
    assert "(MapWorker" in text  # the stage actors' output, forwarded
    assert "Execution plan of Dataset" in text  # Ray Data's own


class CannedMonitor:
    """A ProgressMonitor whose snapshots are given (no Ray): what it prints, and when."""

    @staticmethod
    def make(live: bool, snaps: list[dict]):
        import io

        from pipelines.progress import ProgressMonitor

        class Canned(ProgressMonitor):
            def snapshot(self, state="running"):
                snap = dict(snaps.pop(0) if len(snaps) > 1 else snaps[0])
                snap["state"] = state
                return snap

            def write(self, snap):
                self.written = snap

        mon = Canned(load_config("local"), admission=None, live=live, every=0.05, stream=io.StringIO())
        mon.every = 0.05
        return mon


def _snap(n_in: int) -> dict:
    return {"run_name": "demo", "elapsed": 1.0, "accepted": 0, "target": None, "eta_seconds": None,
            "stages": [{"stage": "ingest", "unit": "documents", "rows_in": n_in, "rows_out": n_in, "rejected": 0,
                        "errored": 0, "candidates_made": 0, "rows_per_second": None}]}


@pytest.mark.parametrize("live", [False, True])
def test_the_monitor_prints_changes_and_a_final_table(live):
    import threading
    import time

    mon = CannedMonitor.make(live, [_snap(1), _snap(1), _snap(1), _snap(2)])
    mon._thread = threading.Thread(target=mon._run, daemon=True)
    mon._thread.start()
    time.sleep(0.6)
    final = mon.stop("finished")
    text = mon.stream.getvalue()
    assert final["state"] == "finished" and mon.written["state"] == "finished"
    assert text.rstrip().splitlines()[-2].startswith("stage") and text.rstrip().endswith("-")
    assert "ARES demo: finished" in text
    if not live:  # a log gets a table only when the numbers change: 1, then 2, then the final one
        assert text.count("ARES demo: running") == 2
