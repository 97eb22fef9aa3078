"""Cheap heuristics and chunking."""

from __future__ import annotations

from operators.stages import ingest
from operators.stages.chunking import chunk_text
from operators.stages.document_filter import DocumentFilterConfig, heuristics
from pipelines.config import load_config
from tests.conftest import read_row, run_stages, sample_records

CFG = DocumentFilterConfig(min_chars=400)


def test_sample_documents_pass_heuristics():
    for rec in sample_records():
        ok, reason = heuristics(rec["text"], CFG)
        assert ok, (rec["id"], reason)


def test_heuristics_reject_with_measured_reason():
    assert heuristics("short text", CFG) == (False, "too short: 10 characters < 400")
    ok, reason = heuristics("$$ ## %% && " * 100, CFG)
    assert not ok and reason.startswith("symbol ratio")
    ok, reason = heuristics("\n".join(["Buy now and save big today"] * 40), CFG)
    assert not ok and reason.startswith("duplicate line ratio")
    ok, reason = heuristics(" ".join(["banana"] * 50 + ["apple", "cherry", "grape"] * 10), CFG)
    assert not ok and "repetitive" in reason
    text = sample_records(1)[0]["text"] + " Lorem ipsum dolor. All rights reserved. Click here to subscribe."
    ok, reason = heuristics(text, CFG)
    assert not ok and reason.startswith("boilerplate markers")


def test_chunks_follow_paragraphs_and_cover_spans():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(10))
    chunks = chunk_text(text, chunk_chars=700, max_chunks=100)
    assert all(len(c.text) <= 700 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].text.startswith("Paragraph 0.") and chunks[-1].text.rstrip().endswith("word")
    assert "".join(c.text for c in chunks).count("Paragraph") == 10


def test_huge_document_is_cut_into_few_spread_chunks():
    text = ("A sentence about geology and rocks. " * 40 + "\n\n") * 3500  # about 5 MB
    assert len(text) > 5_000_000
    (doc,) = run_stages([read_row("f#1", text, doc_id="big")], load_config("local", ["input.max_document_chars=1000000"]),
                        ingest.STAGE)
    assert len(doc.text) == 1_000_000 and doc.text_chars == len(text)
    assert any("cut from" in v.reason for v in doc.verdicts)
    chunks = chunk_text(doc.text, chunk_chars=2000, max_chunks=3)
    assert len(chunks) == 3 and chunks[0].start == 0 and chunks[-1].start > 600_000


def test_read_errors_become_document_rejects_naming_file_and_row():
    (doc,) = run_stages([read_row("s3://b/x.jsonl#7", None, source="s3://b/x.jsonl", row=7,
                                  error="invalid JSON: Expecting value at column 1")], load_config("local"), ingest.STAGE)
    assert doc.status == "rejected" and doc.reject_stage == "read"
    assert doc.reject_reason == "s3://b/x.jsonl row 7: invalid JSON: Expecting value at column 1"
