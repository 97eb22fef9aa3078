"""What every stage function receives besides its documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from operators.llm_engine import LLMClient
    from pipelines.config import Config


@dataclass
class StageContext:
    cfg: "Config"
    llm: "LLMClient | None" = None
    prompts_dir: str | None = None
    services: dict[str, Any] = field(default_factory=dict)  # named-actor handles (admission controller)
