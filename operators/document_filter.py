"""Ingest read rows into document states, apply cheap quality heuristics, and chunk.

Runs before any model: a document that is too short, mostly symbols, repetitive or boilerplate is rejected here
with the measured value in its reason. Long documents are cut to `input.max_document_chars` and split on paragraph
boundaries into chunks; a few chunks, spread evenly over the document, go on (a 5 MB document is never sent whole).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from operators.context import StageContext
from operators.schemas import Chunk, DocumentState, Verdict

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Text that speaks to a model rather than to a reader: instructions to ignore instructions, chat-role markup,
# our own delimiters, planted verdict JSON. Documents are untrusted data; these are screened out before any model.
_INSTRUCTIONS = [
    re.compile(r"\b(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|preceding)"
               r"\s+(instructions|prompts?|directions|rules)", re.I),
    re.compile(r"<\s*/?\s*(document|system|assistant|user|im_start|im_end|question|answer|criterion)\s*>", re.I),
    re.compile(r"^\s*(system|assistant)(\s+prompt)?\s*:", re.I | re.M),
    re.compile(r"\"(verdict|criteria_met|informative|self_contained)\"\s*:", re.I),
    re.compile(r"\byou\s+are\s+(now\s+)?(an?|the)\s+(ai|assistant|language\s+model|chatbot|grader|judge)\b", re.I),
]


def ingest(row: dict[str, Any], max_chars: int) -> DocumentState:
    """A read row (see read_documents.ROW_SCHEMA) as a document state; read errors become document rejects."""
    doc = DocumentState(
        record_key=row["record_key"], doc_id=row.get("doc_id"), source=row["source"], row=int(row["row"])
    )
    if row.get("error"):
        doc.record("read", False, f"{doc.source} row {doc.row}: {row['error']}")
        return doc
    text = row["text"]
    doc.doc_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    doc.text_chars = len(text)
    if doc.doc_id is None:
        doc.doc_id = doc.doc_hash[:16]
        doc.verdicts.append(_note("read", f"{doc.source} row {doc.row}: no id field; using content hash"))
    if len(text) > max_chars:
        text = text[:max_chars]
        doc.verdicts.append(_note("read", f"text cut from {doc.text_chars} to {max_chars} characters"))
    doc.text = text
    return doc


def _note(stage: str, reason: str) -> Verdict:
    return Verdict(stage=stage, passed=True, reason=reason)


def heuristics(text: str, cfg) -> tuple[bool, str]:
    """(passed, reason) of the cheap checks, the first failing one named with its measured value."""
    n = len(text)
    if n < cfg.min_chars:
        return False, f"too short: {n} characters < {cfg.min_chars}"
    if cfg.reject_instructions:
        found = [m.group(0) for p in _INSTRUCTIONS if (m := p.search(text))]
        if found:
            return False, "instructions aimed at a model (prompt injection): " + "; ".join(repr(f[:40]) for f in found)
    non_space = [c for c in text if not c.isspace()]
    symbols = sum(1 for c in non_space if not c.isalnum())
    ratio = symbols / max(1, len(non_space))
    if ratio > cfg.max_symbol_ratio:
        return False, f"symbol ratio {ratio:.2f} > {cfg.max_symbol_ratio}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 4:
        dup = 1 - len(set(lines)) / len(lines)
        if dup > cfg.max_duplicate_line_ratio:
            return False, f"duplicate line ratio {dup:.2f} > {cfg.max_duplicate_line_ratio}"
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False, "no words"
    mean_len = sum(map(len, words)) / len(words)
    if not (cfg.min_mean_word_length <= mean_len <= cfg.max_mean_word_length):
        return False, f"mean word length {mean_len:.1f} outside [{cfg.min_mean_word_length}, {cfg.max_mean_word_length}]"
    long_words = [w for w in words if len(w) > 3]
    if len(long_words) >= 20:
        top, count = Counter(long_words).most_common(1)[0]
        share = count / len(long_words)
        if share > cfg.max_top_word_ratio:
            return False, f"repetitive: {top!r} is {share:.0%} of words longer than 3 letters"
    lowered = text.lower()
    hits = [m for m in cfg.boilerplate_markers if m in lowered]
    if len(hits) > cfg.max_boilerplate_hits:
        return False, f"boilerplate markers: {', '.join(hits)}"
    return True, f"{n} characters, symbol ratio {ratio:.2f}, mean word length {mean_len:.1f}"


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank paragraphs (separated by blank lines), whitespace trimmed."""
    out, pos = [], 0
    for sep in list(re.finditer(r"\n[ \t\r\f\v]*\n\s*", text)) + [None]:
        end = sep.start() if sep else len(text)
        s, e = pos, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
        pos = sep.end() if sep else len(text)
    return out


def chunk_text(text: str, chunk_chars: int, max_chunks: int) -> list[Chunk]:
    """Paragraph-aligned chunks of at most `chunk_chars` (a longer paragraph is cut at sentence ends or hard),
    then at most `max_chunks` of them taken evenly from start to end."""
    spans: list[tuple[int, int]] = []
    for start, end in _paragraphs(text):
        while end - start > chunk_chars:
            cut = text.rfind(". ", start, start + chunk_chars)
            cut = cut + 1 if cut > start + chunk_chars // 2 else start + chunk_chars
            spans.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and e - merged[-1][0] <= chunk_chars:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    if len(merged) > max_chunks:
        step = len(merged) / max_chunks
        merged = [merged[int(i * step)] for i in range(max_chunks)]
    return [Chunk(index=i, start=s, end=e, text=text[s:e]) for i, (s, e) in enumerate(merged)]


def reject_duplicate_ids(docs: list[DocumentState], ctx: StageContext) -> None:
    """A document id seen before (in this job, or in its committed output) is rejected, naming the first record."""
    admission = ctx.services.get("admission")
    live = [d for d in docs if d.alive and d.doc_id is not None]
    if admission is None or not live:
        return
    owners = admission.claim_documents([(d.doc_id, d.record_key) for d in live])
    for doc, owner in zip(live, owners):
        if owner is not None:
            doc.record("read", False, f"{doc.source} row {doc.row}: duplicate document id {doc.doc_id!r} "
                                      f"(first seen at {owner})")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    fcfg, ccfg = ctx.cfg.stages.document_filter, ctx.cfg.stages.chunking
    reject_duplicate_ids(docs, ctx)
    for doc in docs:
        if not doc.alive or doc.text is None:
            continue
        if fcfg.enabled:
            passed, reason = heuristics(doc.text, fcfg)
            doc.record("document_filter", passed, reason)
        if doc.alive:
            doc.chunks = chunk_text(doc.text, ccfg.chunk_chars, ccfg.max_chunks_per_document)
            if not doc.chunks:
                doc.record("chunking", False, "no text to chunk")
        doc.text = None  # chunks carry what later stages need; never ship the whole document on
