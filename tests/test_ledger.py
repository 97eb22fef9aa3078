"""The token ledger and stopping at the target, through the pipeline's own operators in this process (no Ray), with
the scripted engine (which accepts every candidate and counts its calls per stage): every engine call is charged to
the document or candidate it was for, written with the output rows, and summed from the written files; once the
target is met no engine call is spent on new documents."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.output import OUTPUT_SCHEMA
from operators.read_documents import ROW_SCHEMA
from operators.services.admission import Admission, AdmissionClient
from pipelines import summary as summary_module
from pipelines.config import load_config
from pipelines.runner import GroupRunner, group_stages
from pipelines.summary import write_summary
from tests.conftest import sample_records

SCRIPTED = "engines.default.client=tests.scripted_engine:ScriptedClient"
META = {"prompts_version": "v", "models": "{}", "run_name": "t"}


def rows(n: int, offset: int = 0) -> pa.Table:
    recs = sample_records(offset + n)[offset:]
    return pa.Table.from_pylist(
        [{"record_key": f"s#{i}", "doc_id": r["id"], "text": r["text"], "source": "s", "row": i, "error": None}
         for i, r in enumerate(recs, offset + 1)], schema=ROW_SCHEMA)


def runners(cfg, admission: Admission | None = None) -> list[GroupRunner]:
    groups = group_stages(cfg.active_stages(), cfg)
    out = [GroupRunner(cfg.model_dump_json(), g.stages, i == 0, i == len(groups) - 1, META, None, None)
           for i, g in enumerate(groups)]
    if admission is not None:
        for r in out:
            r.ctx.services["admission"] = AdmissionClient(admission)
    return out


def through(pipeline: list[GroupRunner], batch: pa.Table) -> pa.Table:
    for r in pipeline:
        batch = r(batch)
    assert batch.schema == OUTPUT_SCHEMA
    return batch


def engine_calls(pipeline: list[GroupRunner]) -> dict[str, int]:
    return next(r.ctx.llm for r in pipeline if r.ctx.llm is not None).calls


def write_output(table: pa.Table, out) -> None:
    """As the job writes it: partitioned by status into accepted/ and rejected/, without the status column."""
    for status in ("accepted", "rejected"):
        part = table.filter(pa.compute.equal(table.column("status"), status)).drop_columns(["status"])
        if len(part):
            (out / status).mkdir(parents=True, exist_ok=True)
            pq.write_table(part, out / status / "part-0.parquet")


def test_every_engine_call_is_charged_and_summed_from_the_written_output(tmp_path, monkeypatch):
    cfg = load_config("local", [SCRIPTED, f"output.path={tmp_path / 'out'}"])
    pipeline = runners(cfg)
    table = through(pipeline, rows(3))
    calls = engine_calls(pipeline)
    write_output(table, tmp_path / "out")
    monkeypatch.setattr(summary_module, "BATCH_ROWS", 2)  # several record batches: sums must not depend on them
    summary = write_summary(cfg, {})
    ledger = summary["ledger"]
    assert summary["documents_read"] == 3 and summary["accepted"] == 6
    # per stage: exactly the calls the engine answered, with the tokens it reported
    assert {s: u["calls"] for s, u in ledger["stages"].items()} == calls
    assert set(calls) >= {"document_judge", "label", "synthesis", "faithfulness", "discriminativeness"}
    for stage, u in ledger["stages"].items():
        assert u["prompt_tokens"] > 0 and u["output_tokens"] > 0, stage
    assert ledger["total"]["calls"] == sum(calls.values())
    assert ledger["per_accepted"]["total"]["calls"] == pytest.approx(sum(calls.values()) / 6, abs=1e-3)
    assert ledger["refused_for_quota"]["calls"] == 0
    # a document's own calls are on its first row only; a candidate's on its own row
    by_doc: dict[str, list[dict]] = {}
    for r in table.to_pylist():
        by_doc.setdefault(r["record_key"], []).append(r)
    for doc_rows in by_doc.values():
        assert {u["stage"] for u in doc_rows[0]["document_usage"]} == {"document_judge", "label"}
        assert all(r["document_usage"] is None for r in doc_rows[1:])
        for r in doc_rows:
            assert {u["stage"] for u in r["usage"]} >= {"synthesis", "faithfulness", "discriminativeness"}


def test_no_engine_call_for_new_documents_once_the_target_is_met(tmp_path):
    cfg = load_config("local", [SCRIPTED, "target.accepted=3", "stages.admission.dedup.enabled=false",
                                f"output.path={tmp_path / 'out'}"])
    adm = cfg.stages.admission
    admission = Admission(adm.quota, adm.dedup, 0.1, target=cfg.target.accepted)
    pipeline = runners(cfg, admission)
    first = through(pipeline, rows(2))  # 2 documents, 4 candidates: 3 fill the target, 1 is refused
    calls_after_first = dict(engine_calls(pipeline))
    later = [through(pipeline, rows(2, offset)) for offset in (2, 4, 6)]
    assert engine_calls(pipeline) == calls_after_first  # not one engine call after the target was met
    assert admission.stats()["accepted"] and sum(admission.stats()["accepted"].values()) == 3

    out = pa.concat_tables([first, *later])
    assert sum(r["status"] == "accepted" for r in out.to_pylist()) == 3
    stopped = [r for t in later for r in t.to_pylist()]
    assert len(stopped) == 6
    for r in stopped:  # each new document: one rejected row, stopped before the first LLM stage, nothing spent
        assert r["unit"] == "document" and r["reject_stage"] == "quota"
        assert r["reject_reason"] == "target of 3 accepted instances is met; stopped before document_judge"
        assert r["document_usage"] == [] and r["usage"] == []
    write_output(out, tmp_path / "out")
    refused = write_summary(cfg, {})["ledger"]["refused_for_quota"]
    # the one candidate refused at admission had spent its whole chain of calls
    assert refused["candidates"] == 1 and refused["documents"] == 6
    assert refused["calls"] == sum(u["calls"] for r in first.to_pylist() if r["reject_stage"] == "quota"
                                   for u in r["usage"]) > 0


def test_candidates_of_a_full_domain_stop_before_their_next_engine_call():
    cfg = load_config("local", [SCRIPTED, "stages.admission.quota.default=1"])
    adm = cfg.stages.admission
    admission = Admission(adm.quota, adm.dedup, 0.1)
    pipeline = runners(cfg, admission)
    through(pipeline, rows(1))  # the document's domain gets its one instance
    (domain,) = admission.full_domains()
    calls = dict(engine_calls(pipeline))
    again = rows(1).to_pylist()[0] | {"record_key": "t#1", "doc_id": "another-id"}  # same text: same domain
    out = through(pipeline, pa.Table.from_pylist([again], schema=ROW_SCHEMA))
    new = engine_calls(pipeline)
    # judge and label ran (the domain is only known after them); not one call once it was known to be full
    assert {s: n - calls.get(s, 0) for s, n in new.items() if n != calls.get(s, 0)} == {"document_judge": 1,
                                                                                      "label": 1}
    for r in out.to_pylist():
        assert r["reject_stage"] == "quota" and r["domain"] == domain
        assert f"quota of accepted instances for domain {domain!r} is met" in r["reject_reason"]
