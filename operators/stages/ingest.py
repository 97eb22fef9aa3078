"""Ingest: turn what the reader found into a usable document, or a reject that names the file and row.

Read errors (invalid JSON or UTF-8, no text, a truncated file) become rejects here. A usable text gets its content
hash (of the text as read, for provenance), its content key (of the normalised text, for the split), an id when the
record had none, and is cut to `input.max_document_chars`. A document id seen before, in this job or in its
committed output, is a duplicate: the reject names the record that owns the id.
"""

from __future__ import annotations

import hashlib

from operators.stage import StageContext, stage
from operators.state import DocumentState
from operators.text import exact_key

NAME = "ingest"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    max_chars = ctx.cfg.input.max_document_chars
    for doc in docs:
        if doc.read_error:
            doc.record("read", False, f"{doc.source} row {doc.row}: {doc.read_error}")
            continue
        text = doc.text or ""
        doc.doc_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        doc.content_key = exact_key(text)
        doc.text_chars = len(text)
        if doc.doc_id is None:
            doc.doc_id = doc.doc_hash[:16]
            doc.note(NAME, f"{doc.source} row {doc.row}: no id field; using content hash")
        if len(text) > max_chars:
            doc.text = text[:max_chars]
            doc.note(NAME, f"text cut from {doc.text_chars} to {max_chars} characters")
    reject_duplicate_ids(docs, ctx)


def reject_duplicate_ids(docs: list[DocumentState], ctx: StageContext) -> None:
    """The first record to claim a document id owns it (now and after a restart: the admission service rebuilds
    ownership from the committed output); a later one is rejected, naming the owner."""
    admission = ctx.services.get("admission")
    live = [d for d in docs if d.alive and d.doc_id is not None]
    if admission is None or not live:
        return
    owners = admission.claim_documents([(d.doc_id, d.record_key) for d in live])
    for doc, owner in zip(live, owners):
        if owner is not None:
            doc.duplicate_of = owner
            doc.record(NAME, False, f"{doc.source} row {doc.row}: duplicate document id {doc.doc_id!r} "
                                    f"(first seen at {owner})")


STAGE = stage(
    NAME, run, "read errors become rejects; content hash, fallback id, length cut, duplicate document ids",
    reads=[], writes=["document.doc_hash", "document.content_key", "document.text_chars", "document.duplicate_of"],
    optional=False, verdicts=("read",),
)
