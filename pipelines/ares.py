"""The ARES flow, top to bottom: read -> filter and chunk -> label -> plan -> co-generate -> check -> judge ->
admit -> write. One streaming Ray Data pipeline of map-type operators, so Ray Data's checkpointing resumes it.
"""

from __future__ import annotations

from operators import (
    candidates,
    discriminativeness,
    document_filter,
    document_judge,
    finalize,
    judges,
    labeling,
    rubric_checks,
    synthesis,
)
from pipelines.config import Config
from pipelines.runner import Stage

ARES_STAGES: list[Stage] = [
    Stage("document_filter", document_filter.run),  # heuristics, chunking (CPU)
    Stage("document_judge", document_judge.run, llm=True),  # informative and self-contained?
    Stage("label", labeling.run, llm=True),  # domain + personas
    Stage("plan", candidates.run),  # (chunk, persona) candidates; quota gate before expensive calls
    Stage("synthesis", synthesis.run, llm=True),  # question + reference answer + weighted rubric, one call
    Stage("rubric_checks", rubric_checks.run),  # deterministic rubric validity, cheap leakage screens
    Stage("self_containment", judges.self_containment, llm=True),
    Stage("faithfulness", judges.faithfulness, llm=True),
    Stage("leakage", judges.leakage, llm=True),
    Stage("rubric_judge", judges.rubric_judge, llm=True),
    Stage("discriminativeness", discriminativeness.run, llm=True),  # reference scores high, flawed answer low
    Stage("admission", finalize.run),  # contamination, quotas, de-duplication, split
]


def active_stages(cfg: Config) -> list[Stage]:
    """The stages the config enables, in flow order."""
    out = []
    for stage in ARES_STAGES:
        stage_cfg = getattr(cfg.stages, stage.name, None)
        if stage_cfg is not None and getattr(stage_cfg, "enabled", True) is False:
            continue
        out.append(stage)
    return out
