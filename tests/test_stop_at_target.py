"""A real job (Ray, the admission actor, the parquet write) with the scripted engine stops at `target.accepted`: exactly
that many instances are accepted, the documents that came after it spent no engine call, and the summary and the
end-of-run print carry the token ledger and what was spent on candidates refused for quota."""

from __future__ import annotations

import json
import subprocess

import pyarrow.dataset as pads
import pytest

from tests.conftest import ARES, REPO

pytestmark = pytest.mark.e2e


def test_job_stops_at_the_target_and_reports_its_ledger(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(ARES + [
        "run", "local", "engines.default.client=tests.scripted_engine:ScriptedClient",
        "input.limit_per_file=12", "input.records_per_block=2", "engines.default.batch_size=2",
        "engines.default.max_concurrent_batches=1", "stages.admission.dedup.enabled=false", "target.accepted=3",
        f"output.path={out}",
    ], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accepted"] == 3 and summary["documents_read"] == 12

    rows = pads.dataset(out / "rejected", format="parquet").to_table().to_pylist()
    rows += pads.dataset(out / "accepted", format="parquet").to_table().to_pylist()
    firsts = [r for r in rows if r["document_usage"] is not None]
    spent = [r for r in firsts if r["document_usage"]]
    stopped = [r for r in firsts if not r["document_usage"]]
    # one batch of 2 documents (4 candidates) fills the target; one batch in flight at a time: every later document
    # was stopped before its first engine call
    assert len(spent) == 2 and len(stopped) == 10
    for r in stopped:
        assert r["unit"] == "document" and r["reject_stage"] == "quota", r
        assert r["reject_reason"].startswith("target of 3 accepted instances is met; stopped before")
    ledger = summary["ledger"]
    assert ledger["stages"]["document_judge"]["calls"] == 2 and ledger["stages"]["synthesis"]["calls"] == 4
    assert ledger["per_accepted"]["total"]["calls"] == pytest.approx(ledger["total"]["calls"] / 3, abs=1e-3)
    refused = ledger["refused_for_quota"]
    assert refused["candidates"] == 1 and refused["documents"] == 10 and refused["calls"] > 0
    assert "engine calls and tokens by stage" in proc.stdout
    assert "spent on 1 candidates and 10 documents refused for quota" in proc.stdout
