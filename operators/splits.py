"""Train / validation / test assignment by source document, so a document's instances never straddle two splits."""

from __future__ import annotations

import hashlib


def assign_split(document_key: str, cfg) -> str:
    """Deterministic: a hash of the document's content key (its text hash) placed on [0, 1)."""
    h = int(hashlib.sha256(f"{cfg.seed}|{document_key}".encode()).hexdigest()[:15], 16) / 16**15
    if h < cfg.train:
        return "train"
    if h < cfg.train + cfg.validation:
        return "validation"
    return "test"
