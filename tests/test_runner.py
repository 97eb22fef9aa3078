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
