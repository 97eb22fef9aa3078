"""Sampling parameters: one pydantic model, passed through to vLLM's `SamplingParams` field by field.

Every field but the ones in `OWN_FIELDS` is a `vllm.SamplingParams` argument of the same name, so adding a vLLM
sampling field is one line here. `OWN_FIELDS` are ours: how often and how an output that does not validate is
asked again.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from operators.config_base import Strict

OWN_FIELDS = frozenset({"max_attempts", "retry_temperature"})


class SamplingConfig(Strict):
    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float = Field(
        1.0, gt=0, description="vLLM's multiplicative penalty on tokens already seen; >1 discourages repeats."
    )
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    seed: int | None = None
    n: int = Field(1, ge=1, description="Completions per request (one prompt computed once for all of them).")
    max_attempts: int = Field(1, ge=1, le=5, description="Calls per item when its output does not validate.")
    retry_temperature: float = Field(
        0.3, ge=0,
        description="Lowest temperature of a retry: at temperature 0 a retry would repeat the same output, so a "
                    "retry samples at max(temperature, retry_temperature) with another seed.",
    )

    def vllm_kwargs(self, attempt: int = 0) -> dict[str, Any]:
        """The `SamplingParams` arguments of attempt `attempt` (0 = the first call)."""
        kwargs = self.model_dump(exclude=OWN_FIELDS)
        if attempt > 0:
            kwargs["temperature"] = max(self.temperature, self.retry_temperature)
            kwargs["seed"] = None if self.seed is None else self.seed + attempt
        return kwargs
