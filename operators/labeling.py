"""Domain and persona assignment: one LLM call per document, or personas sampled from a persona file.

The domain is constrained to the configured label set by the JSON schema, so the model cannot invent a label.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import fsspec

from operators.context import StageContext
from operators.llm_calls import ask, llm_failure
from operators.schemas import DocumentState, DomainLabel, DomainPersonas

STAGE = "label"


def _schema(domains: list[str], max_personas: int | None) -> dict:
    props: dict = {"domain": {"type": "string", "enum": domains}}
    required = ["domain"]
    if max_personas:
        props["personas"] = {
            "type": "array",
            "items": {"type": "string", "minLength": 8, "maxLength": 200},
            "minItems": 1,
            "maxItems": max_personas,
        }
        required.append("personas")
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


@lru_cache(maxsize=4)
def load_personas(path: str) -> tuple[tuple[str, str | None], ...]:
    """(persona, domain or None) of each line of a JSONL persona file; a bad line is an error naming it."""
    out = []
    with fsspec.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                persona = obj["persona"] if isinstance(obj, dict) else None
                if not isinstance(persona, str) or not persona.strip():
                    raise ValueError("no 'persona' string")
            except (ValueError, KeyError) as exc:
                raise ValueError(f"persona file {path} line {n}: {exc}") from None
            out.append((persona.strip(), obj.get("domain")))
    if not out:
        raise ValueError(f"persona file {path} holds no personas")
    return tuple(out)


def sample_personas(path: str, domain: str, key: str, k: int) -> list[str]:
    """k personas for `domain` (untagged ones fit every domain), chosen by a hash of `key`: same input, same pick."""
    pool = [p for p, d in load_personas(path) if d in (None, domain)] or [p for p, _ in load_personas(path)]
    ranked = sorted(pool, key=lambda p: hashlib.sha256(f"{key}|{p}".encode()).hexdigest())
    return ranked[:k]


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    cfg = ctx.cfg.stages.label
    from_file = cfg.persona_file is not None
    output = DomainLabel if from_file else DomainPersonas
    schema = _schema(cfg.domains, None if from_file else cfg.max_personas)
    live = [d for d in docs if d.alive]
    values = lambda d: {  # noqa: E731
        "document": d.chunks[0].text,
        "domains": "; ".join(cfg.domains),
        "max_personas": cfg.max_personas,
    }
    template = "label_domain" if from_file else "label"
    for doc, res in ask(ctx, STAGE, live, template, values, output, schema=schema):
        if res.value is None:
            doc.record(STAGE, False, llm_failure(STAGE, res))
            continue
        doc.domain = res.value.domain
        if from_file:
            doc.personas = sample_personas(cfg.persona_file, doc.domain, doc.record_key, cfg.personas_per_chunk)
            source = f"sampled from {cfg.persona_file}"
        else:
            doc.personas = list(dict.fromkeys(p.strip() for p in res.value.personas if p.strip()))
            source = "proposed by the labeler"
        doc.record(STAGE, True, f"domain {doc.domain!r}; {len(doc.personas)} personas {source}")
