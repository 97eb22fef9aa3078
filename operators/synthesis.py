"""Co-generation: one call writes the question, the reference answer and the weighted rubric, from a persona's view.

The JSON schema sent to vLLM carries the configured bounds (criteria count, weight range), so constrained decoding
enforces the shape; the deterministic rubric checks still verify everything afterwards.
"""

from __future__ import annotations

from operators.context import StageContext
from operators.llm_calls import ask, llm_failure
from operators.schemas import Candidate, DocumentState, GeneratedInstance

STAGE = "synthesis"


def _item(polarity: str, low: int, high: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "criterion": {"type": "string", "minLength": 10, "maxLength": 200},
            "polarity": {"type": "string", "enum": [polarity]},
            "weight": {"type": "integer", "minimum": low, "maximum": high},
        },
        "required": ["criterion", "polarity", "weight"],
        "additionalProperties": False,
    }


def schema(rcfg) -> dict:
    """The output schema with the configured bounds. A criterion is one of two shapes, positive with a weight in
    [1, max] or negative with a weight in [min, -1], so constrained decoding cannot emit a zero weight or a sign
    that disagrees with the polarity (the deterministic checks still verify both)."""
    item = {"anyOf": [_item("positive", 1, rcfg.max_weight), _item("negative", rcfg.min_weight, -1)]}
    return {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 10, "maxLength": 800},
            "reference_answer": {"type": "string", "minLength": 1, "maxLength": 1500},
            "rubric": {"type": "array", "items": item, "minItems": rcfg.min_criteria, "maxItems": rcfg.max_criteria},
        },
        "required": ["question", "reference_answer", "rubric"],
        "additionalProperties": False,
    }


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    rcfg = ctx.cfg.stages.rubric
    items: list[tuple[DocumentState, Candidate]] = [(d, c) for d in docs for c in d.live_candidates()]

    def values(item):
        doc, cand = item
        return {
            "document": doc.chunks[cand.chunk_index].text,
            "persona": cand.persona,
            "domain": cand.domain,
            "min_criteria": rcfg.min_criteria,
            "max_criteria": rcfg.max_criteria,
            "min_weight": rcfg.min_weight,
            "max_weight": rcfg.max_weight,
        }

    for (_, cand), res in ask(ctx, STAGE, items, STAGE, values, GeneratedInstance, schema=schema(rcfg)):
        if res.value is None:
            cand.record(STAGE, False, llm_failure(STAGE, res))
            continue
        gen: GeneratedInstance = res.value  # type: ignore[assignment]
        cand.question, cand.reference_answer, cand.rubric = gen.question, gen.reference_answer, gen.rubric
        cand.record(STAGE, True, f"{len(gen.rubric)} criteria, {res.output_tokens} output tokens")
