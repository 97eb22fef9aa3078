"""Label: one domain per document (from the configured set) and the personas who would ask about it, proposed by
the model or sampled from a persona file. The labeller sees every chunk that candidates will be written from.

The domain is constrained to the configured label set by the JSON schema, so the model cannot invent a label.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import fsspec
from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.schemas import DomainLabel, DomainPersonas
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import DocumentState

NAME = "label"
DEFAULT_DOMAINS = [
    "Social Science",
    "Technology & Engineering",
    "Medicine & Health",
    "Travel & Lifestyle",
    "Commerce & Economics",
    "Natural Science",
    "Education",
    "Coding",
    "Math",
    "Others",
]


class LabelConfig(LLMStageConfig):
    domains: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAINS), min_length=1)
    max_personas: int = Field(3, ge=1, le=10, description="Personas per document: proposed, or sampled from the file.")
    persona_file: str | None = Field(None, description="JSONL of {persona, domain?}; personas are sampled from it.")
    # up to max_personas descriptions of up to 200 characters each (the schema's bound) plus the domain
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=300, temperature=0.7))


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
    cfg: LabelConfig = ctx.conf
    from_file = cfg.persona_file is not None
    output = DomainLabel if from_file else DomainPersonas
    schema = _schema(cfg.domains, None if from_file else cfg.max_personas)
    live = [d for d in docs if d.alive]
    values = lambda d: {  # noqa: E731
        "document": d.excerpt(),  # every chunk a candidate may be written from
        "domains": "; ".join(cfg.domains),
        "max_personas": cfg.max_personas,
    }
    template = "label_domain" if from_file else NAME
    for doc, res in ask(ctx, live, values, output, schema=schema, template=template):
        if res.value is None:
            doc.record(NAME, False, llm_failure(NAME, res))
            continue
        doc.domain = res.value.domain
        if from_file:
            doc.personas = sample_personas(cfg.persona_file, doc.domain, doc.record_key, cfg.max_personas)
            source = f"sampled from {cfg.persona_file}"
        else:
            doc.personas = list(dict.fromkeys(p.strip() for p in res.value.personas if p.strip()))
            source = "proposed by the labeller"
        doc.record(NAME, True, f"domain {doc.domain!r}; {len(doc.personas)} personas {source}")


STAGE = stage(NAME, run, "one domain of the configured set and the personas who would ask",
              reads=["document.chunks"], writes=["document.domain", "document.personas"], config=LabelConfig,
              optional=False, templates=("label", "label_domain"))
