"""Synthesis: one call writes the question, the reference answer and the weighted rubric, from a persona's view.

The JSON schema sent to vLLM carries the configured rubric bounds (criteria count, weight range), so constrained
decoding enforces the shape; the deterministic rubric checks still verify everything afterwards.
"""

from __future__ import annotations

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.sampling import SamplingConfig
from operators.rubric import RubricSpec, items_schema, pitfalls_wanted, weight_tiers
from operators.schemas import GeneratedInstance
from operators.stage import LLMStageConfig, StageContext, stage
from operators.state import Candidate, DocumentState

NAME = "synthesis"


class SynthesisConfig(LLMStageConfig):
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=900, temperature=0.7))


def schema(spec: RubricSpec) -> dict:
    """The output schema with the configured rubric bounds."""
    return {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 10, "maxLength": 800},
            "reference_answer": {"type": "string", "minLength": 1, "maxLength": 1500},
            "rubric": items_schema(spec),
        },
        "required": ["question", "reference_answer", "rubric"],
        "additionalProperties": False,
    }


def prompt_values(spec: RubricSpec, document: str, persona: str, domain: str) -> dict:
    """What the synthesis template is filled with: the chunk, who asks, and what the rubric checks will demand."""
    return {"document": document, "persona": persona, "domain": domain, "min_criteria": spec.min_criteria,
            "max_criteria": spec.max_criteria, "min_weight": spec.min_weight, "max_weight": spec.max_weight,
            "min_negative": spec.min_negative, "n_negative": pitfalls_wanted(spec), **weight_tiers(spec)}


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    spec: RubricSpec = ctx.cfg.rubric
    items: list[tuple[DocumentState, Candidate]] = [(d, c) for d in docs for c in d.live_candidates()]

    def values(item):
        doc, cand = item
        return prompt_values(spec, doc.chunk(cand.chunk_index).text, cand.persona, cand.domain)

    for (_, cand), res in ask(ctx, items, values, GeneratedInstance, schema=schema(spec)):
        if res.value is None:
            cand.record(NAME, False, llm_failure(NAME, res))
            continue
        gen: GeneratedInstance = res.value  # type: ignore[assignment]
        cand.question, cand.reference_answer, cand.rubric = gen.question, gen.reference_answer, gen.rubric
        cand.record(NAME, True, f"{len(gen.rubric)} criteria, {res.output_tokens} output tokens")


STAGE = stage(
    NAME, run, "question + reference answer + weighted rubric in one JSON-schema-constrained call",
    reads=["document.chunks", "candidate.chunk_index", "candidate.persona", "candidate.domain"],
    writes=["candidate.question", "candidate.reference_answer", "candidate.rubric"],
    config=SynthesisConfig, optional=False,
)
