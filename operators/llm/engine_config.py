"""What one engine pool is: a model folder, how many actors, what each actor asks of the cluster, vLLM settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from operators.config_base import Strict

COMPACT_JSON_BACKENDS = ("xgrammar", "guidance")  # vLLM's structured-output backends that honour disable_any_whitespace


class EngineConfig(Strict):
    """One pool of vLLM engine actors. Stages that name the same engine share its pool (and its prefix cache)."""

    model: str = Field(description="Local folder of the model's weights (never a hub id fetched at run time).")
    min_actors: int = Field(1, ge=1)
    max_actors: int = Field(1, ge=1)
    batch_size: int = Field(
        32, ge=1, description="Documents per batch; every call for them goes to vLLM at once. With "
                              "max_concurrent_batches, what keeps a GPU engine full: 32 x 8 kept the simulated H100 "
                              "engines at least 93% full where 8 x 4 left them 11-43% full (README, Performance).")
    max_concurrent_batches: int = Field(
        8, ge=1, description="Batches in flight per actor: while one batch parses, checks, waits on admission or on "
                             "its slowest request, the others' calls keep the engine full."
    )
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources each actor asks for, e.g. {on_demand: 1} to keep the "
                                          "pool on nodes started with that resource."
    )
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=256)
    compact_json: bool = Field(
        True, description="Constrain JSON outputs to no whitespace between tokens (fewer output tokens per call)."
    )
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="Passed to vllm.LLM as they are.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment of the engine actors.")
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=lambda: {"enable_thinking": False},
        description="Passed to the model's chat template with every request. Every stage asks for JSON, so "
                    "thinking is off by default for models that have a thinking mode (Qwen3); a template ignores "
                    "keys it does not use.",
    )
    client: str = Field(
        "vllm", description="The engine client: 'vllm' (a vllm.LLM in each actor) or 'module:factory', a callable "
                            "taking this EngineConfig and returning an object with run(requests) -> results."
    )

    @model_validator(mode="after")
    def _check(self) -> "EngineConfig":
        if self.client != "vllm" and ":" not in self.client:
            raise ValueError(f"client must be 'vllm' or 'module:factory', got {self.client!r}")
        if self.max_actors < self.min_actors:
            raise ValueError(f"max_actors ({self.max_actors}) is below min_actors ({self.min_actors})")
        backend = (self.engine_kwargs.get("structured_outputs_config") or {}).get("backend", "auto")
        if self.compact_json and backend != "auto" and backend not in COMPACT_JSON_BACKENDS:
            raise ValueError(
                f"compact_json needs the xgrammar or guidance backend, engine_kwargs names {backend!r}; "
                "set compact_json=false to keep it"
            )
        if self.tensor_parallel_size > 1 and self.num_gpus < self.tensor_parallel_size:
            raise ValueError(
                f"tensor_parallel_size={self.tensor_parallel_size} needs num_gpus >= {self.tensor_parallel_size} "
                f"per actor, got {self.num_gpus}"
            )
        return self


def compact_structured_outputs(given: dict[str, Any] | None) -> dict[str, Any]:
    """Engine-level grammar settings for compact JSON: no whitespace the model may spend tokens on.

    vLLM applies `disable_any_whitespace` from the engine's `structured_outputs_config` (the per-request flag has no
    effect in vLLM 0.32), and only the xgrammar and guidance backends support it; xgrammar is chosen unless the
    user named one of the two."""
    cfg = dict(given or {})
    if cfg.get("backend") not in COMPACT_JSON_BACKENDS:
        cfg["backend"] = COMPACT_JSON_BACKENDS[0]
    cfg["disable_any_whitespace"] = True
    return cfg
