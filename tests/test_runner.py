"""The stage runner: a stage that raises on one document rejects that document with the error; the batch goes on."""

from __future__ import annotations

import pyarrow as pa

from operators.read_documents import ROW_SCHEMA
from pipelines.config import load_config
from operators.stage import stage
from pipelines.runner import GroupRunner
from operators.output import OUTPUT_SCHEMA


def picky_stage(docs, ctx):
    for doc in docs:
        if doc.doc_id == "poison":
            doc.domain = "half-done"
            raise KeyError("field that only this document lacks")
        doc.domain = "Math"


def rows(*ids):
    return pa.Table.from_pylist(
        [{"record_key": f"f#{i}", "doc_id": d, "text": "Some text about algebra. " * 30, "source": "f", "row": i,
          "error": None} for i, d in enumerate(ids, 1)],
        schema=ROW_SCHEMA,
    )


def test_a_raising_document_is_rejected_with_its_error_and_the_rest_go_on():
    cfg = load_config("local")
    runner = GroupRunner(cfg.model_dump_json(), [stage("picky", picky_stage, "fails on one document")], first=True, last=True,
                         meta={"prompts_version": "v", "models": "{}", "run_name": "t"}, admission_name=None,
                         namespace=None)
    out = runner(rows("ok-1", "poison", "ok-2"))
    assert out.schema == OUTPUT_SCHEMA
    by_id = {r["doc_id"]: r for r in out.to_pylist()}
    assert by_id["ok-1"]["domain"] == "Math" and by_id["ok-2"]["domain"] == "Math"
    bad = by_id["poison"]
    assert bad["status"] == "rejected" and bad["errored"] is True and bad["reject_stage"] == "picky"
    assert bad["reject_reason"].startswith("f row 2: stage picky raised KeyError")
    assert bad["domain"] is None  # what the failed stage half-did is not kept
    # verdicts were not recorded twice by the retry document by document
    assert [v["stage"] for v in by_id["ok-1"]["document_verdicts"]] == []


class BarrierClient:
    """An engine stand-in whose calls return only once `parties` calls are waiting at the same time: it proves
    that several batches are in flight on one actor (or, with one batch in flight, times out)."""

    barrier = None

    def __init__(self, engine=None):
        pass

    def run(self, requests):
        from operators.llm.client import LLMResult
        from operators.schemas import BinaryJudgement

        BarrierClient.barrier.wait()
        return [LLMResult(BinaryJudgement(reason="ok", verdict="yes"), None) for _ in requests]


def _in_flight(batches_in_flight: int) -> list[dict]:
    import asyncio
    import threading

    from operators.stages import chunking, document_judge, ingest
    from pipelines.runner import EngineGroupRunner

    cfg = load_config("local", ["engines.default.client=tests.test_runner:BarrierClient",
                                f"engines.default.max_concurrent_batches={batches_in_flight}"])
    BarrierClient.barrier = threading.Barrier(2, timeout=5)
    runner = EngineGroupRunner(cfg.model_dump_json(), [ingest.STAGE, chunking.STAGE, document_judge.STAGE],
                               first=True, last=True, meta={"prompts_version": "v", "models": "{}", "run_name": "t"},
                               admission_name=None, namespace=None)

    async def two_batches():
        return await asyncio.gather(runner(rows("a")), runner(rows("b")))

    return [r for t in asyncio.run(two_batches()) for r in t.to_pylist()]


def test_an_engine_actor_keeps_several_batches_in_flight():
    out = _in_flight(2)
    assert len(out) == 2 and not any(r["errored"] for r in out)
    assert all(r["document_verdicts"][-1]["stage"] == "document_judge" and r["document_verdicts"][-1]["passed"]
               for r in out)
    # one batch in flight at a time: the first batch's call waits for a second that never comes alongside it
    assert all(r["errored"] and "BrokenBarrierError" in r["reject_reason"] for r in _in_flight(1))
