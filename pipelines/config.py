"""The job's configuration: omegaconf YAML layered with `key=value` overrides, validated by pydantic.

Validation happens before any Ray work starts, so that a typo costs a second, not a cluster job. Every model forbids
unknown keys; `load_config` turns the first validation error into one line naming the dotted key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from operators.llm_engine import COMPACT_JSON_BACKENDS

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

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line naming the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class EngineConfig(Strict):
    """One pool of vLLM engine actors. Stages that name the same engine share its pool (and its prefix cache)."""

    model: str = Field(description="Local folder of the model's weights (never a hub id fetched at run time).")
    min_actors: int = Field(1, ge=1)
    max_actors: int = Field(1, ge=1)
    batch_size: int = Field(8, ge=1, description="Documents per batch; every call for them goes to vLLM at once.")
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=256)
    compact_json: bool = Field(
        True, description="Constrain JSON outputs to no whitespace between tokens (fewer output tokens per call)."
    )
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict, description="Environment of the engine actors.")

    @model_validator(mode="after")
    def _check(self) -> "EngineConfig":
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


class SamplingConfig(Strict):
    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0, description="vLLM's multiplicative penalty on tokens already seen; >1 discourages repeats.")
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    seed: int | None = None
    max_attempts: int = Field(1, ge=1, le=5, description="Calls per item when its output does not validate.")


class LLMStageConfig(Strict):
    enabled: bool = True
    engine: str = "default"
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


class DocumentFilterConfig(Strict):
    """Cheap heuristics run before any model sees a document."""

    enabled: bool = True
    min_chars: int = Field(400, ge=0)
    max_symbol_ratio: float = Field(0.25, gt=0, le=1)
    max_duplicate_line_ratio: float = Field(0.3, gt=0, le=1)
    max_top_word_ratio: float = Field(0.2, gt=0, le=1)
    min_mean_word_length: float = Field(3.0, ge=0)
    max_mean_word_length: float = Field(12.0, gt=0)
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: [
            "lorem ipsum",
            "all rights reserved",
            "cookie policy",
            "click here",
            "subscribe to our newsletter",
            "javascript is disabled",
        ]
    )
    max_boilerplate_hits: int = Field(1, ge=0)
    reject_instructions: bool = Field(
        True, description="Reject documents that address the model (prompt injection): bad data, and a risk."
    )


class ChunkingConfig(Strict):
    chunk_chars: int = Field(2000, ge=200)
    max_chunks_per_document: int = Field(2, ge=1)


class LabelConfig(LLMStageConfig):
    domains: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAINS), min_length=1)
    max_personas: int = Field(3, ge=1, le=10)
    persona_file: str | None = Field(None, description="JSONL of {persona, domain?}; personas are sampled from it.")
    personas_per_chunk: int = Field(
        2, ge=1, le=10, description="Candidates per chunk: one per persona, up to this many."
    )


class RubricConfig(Strict):
    min_criteria: int = Field(7, ge=1)
    max_criteria: int = Field(15, ge=1)
    min_weight: int = -5
    max_weight: int = 5
    min_negative: int = Field(0, ge=0, description="Pitfall criteria a rubric must carry.")
    max_similarity: float = Field(0.9, gt=0, le=1, description="Two criteria this alike (token Jaccard) are duplicates.")

    @model_validator(mode="after")
    def _check(self) -> "RubricConfig":
        if self.max_criteria < self.min_criteria:
            raise ValueError("max_criteria is below min_criteria")
        if not (self.min_weight < 0 < self.max_weight):
            raise ValueError("weights must range over negatives and positives: min_weight < 0 < max_weight")
        return self


class DiscriminativenessConfig(LLMStageConfig):
    min_reference_score: float = Field(0.6, ge=0, le=1)
    min_margin: float = Field(0.2, ge=0, le=1)
    flawed_answer: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=300))


class QuotaConfig(Strict):
    per_domain: dict[str, int] = Field(default_factory=dict, description="Target accepted instances per domain.")
    default: int | None = Field(None, ge=1, description="Target for domains not listed.")


class DedupConfig(Strict):
    enabled: bool = True
    threshold: float = Field(0.8, gt=0, le=1, description="Estimated Jaccard of word 3-grams marking near-duplicates.")
    num_perm: int = Field(128, ge=16)


class SplitConfig(Strict):
    train: float = Field(0.9, ge=0)
    validation: float = Field(0.05, ge=0)
    test: float = Field(0.05, ge=0)
    seed: str = "ares"

    @model_validator(mode="after")
    def _sum(self) -> "SplitConfig":
        if abs(self.train + self.validation + self.test - 1.0) > 1e-6:
            raise ValueError("train + validation + test must sum to 1")
        return self


class ContaminationConfig(Strict):
    eval_files: list[str] = Field(default_factory=list, description="JSONL files of evaluation items ({text}).")
    text_field: str = "text"
    ngram: int = Field(8, ge=3)
    max_overlap: float = Field(0.2, ge=0, le=1, description="Share of a question's n-grams found in an eval item.")


class ScoreConfig(Strict):
    """`ares score`: the rubric reward over a file of responses, with one engine as the judge."""

    engine: str = "default"
    batch_size: int = Field(16, ge=1, description="Responses per engine call (each expands to one call per criterion).")
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=160, temperature=0.0,
                                                                             max_attempts=3))


class StagesConfig(Strict):
    document_filter: DocumentFilterConfig = Field(default_factory=DocumentFilterConfig)
    document_judge: LLMStageConfig = Field(default_factory=lambda: LLMStageConfig(sampling=SamplingConfig(max_tokens=160)))
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    synthesis: LLMStageConfig = Field(default_factory=lambda: LLMStageConfig(sampling=SamplingConfig(max_tokens=900)))
    rubric: RubricConfig = Field(default_factory=RubricConfig)
    self_containment: LLMStageConfig = Field(default_factory=LLMStageConfig)
    faithfulness: LLMStageConfig = Field(default_factory=LLMStageConfig)
    leakage: LLMStageConfig = Field(default_factory=LLMStageConfig)
    rubric_judge: LLMStageConfig = Field(default_factory=LLMStageConfig)
    discriminativeness: DiscriminativenessConfig = Field(default_factory=DiscriminativenessConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    contamination: ContaminationConfig = Field(default_factory=ContaminationConfig)


class InputConfig(Strict):
    path: str = Field(description="File, folder or glob; local, file:// or s3://.")
    id_field: str = "id"
    text_field: str = "text"
    limit_per_file: int | None = Field(None, ge=1, description="Read only the first N records of each file.")
    records_per_block: int = Field(16, ge=1)
    max_document_chars: int = Field(
        1_000_000, ge=1000, description="Text beyond this is cut before chunking (the row records it)."
    )


class OutputConfig(Strict):
    path: str
    checkpoint_path: str | None = Field(None, description="Defaults to '<path>.checkpoint' beside the output.")
    on_existing: Literal["resume", "error", "overwrite"] = "resume"


class StorageConfig(Strict):
    """How s3:// paths are reached. Keys come from the environment (AWS_ACCESS_KEY_ID ...), never from YAML."""

    endpoint_url: str | None = None
    region: str | None = None
    anon: bool = False


class RayConfig(Strict):
    address: str = Field("local", description="'local' starts a private cluster; 'auto' or an address joins one.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a 'local' cluster.")
    expect_autoscaling: bool = Field(
        False, description="Allow asks the current nodes cannot fit (an autoscaler will add nodes)."
    )
    task_num_cpus: float = Field(1.0, gt=0, description="CPU ask of the read and write tasks and CPU-stage actors.")
    cpu_actors: int = Field(4, ge=1, description="Most actors of the leading CPU stage group (filter, chunking).")
    max_errored_fraction: float = Field(
        0.1, ge=0, le=1, description="Abort when more than this share of documents raised errors."
    )
    max_retries: int = Field(3, ge=0, description="Retries of a task or actor that died (node loss, OOM kill).")


class Config(Strict):
    run_name: str = "ares"
    prompts_dir: str | None = None
    input: InputConfig
    output: OutputConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    engines: dict[str, EngineConfig] = Field(min_length=1)
    stages: StagesConfig = Field(default_factory=StagesConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)

    @field_validator("engines")
    @classmethod
    def _engine_names(cls, v: dict[str, EngineConfig]) -> dict[str, EngineConfig]:
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"engine name {name!r} must be an identifier")
        return v

    @model_validator(mode="after")
    def _engines_exist(self) -> "Config":
        uses = {f"stages.{n}.engine": s.engine for n, s in self.llm_stages().items() if s.enabled}
        uses["score.engine"] = self.score.engine
        for key, engine in uses.items():
            if engine not in self.engines:
                raise ConfigError(f"{key}: unknown engine {engine!r} (defined: {sorted(self.engines)})")
        if not self.stages.label.enabled:
            raise ConfigError("stages.label.enabled: the label stage cannot be disabled (candidates need a domain)")
        return self

    def llm_stages(self) -> dict[str, LLMStageConfig]:
        return {
            name: getattr(self.stages, name)
            for name in type(self.stages).model_fields
            if isinstance(getattr(self.stages, name), LLMStageConfig)
        }

    @property
    def checkpoint_path(self) -> str:
        return self.output.checkpoint_path or self.output.path.rstrip("/") + ".checkpoint"


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"invalid config: {key + ': ' if key else ''}{msg}{more}"


def resolve_config_path(name: str) -> Path:
    """`local` means conf/local.yaml; anything else is a path."""
    path = Path(name)
    if not path.suffix and (CONF_DIR / f"{name}.yaml").exists():
        path = CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"config file not found: {name}")
    return path


def load_config(name: str, overrides: list[str] | None = None) -> Config:
    """Merge base.yaml, the named config and `key=value` overrides, then validate."""
    path = resolve_config_path(name)
    try:
        layers = [OmegaConf.load(CONF_DIR / "base.yaml")] if path.resolve() != (CONF_DIR / "base.yaml") else []
        layers.append(OmegaConf.load(path))
        for item in overrides or []:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not key=value")
        layers.append(OmegaConf.from_dotlist(list(overrides or [])))
        merged = OmegaConf.merge(*layers)
        raw = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid config: {str(exc).splitlines()[0]}") from None
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    return absolutize(cfg)


def _abs(path: str | None) -> str | None:
    if path is None or "://" in path or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def absolutize(cfg: Config) -> Config:
    """Relative local paths are taken from the current directory, once, so Ray workers see the same files."""
    cfg.input.path = _abs(cfg.input.path)
    cfg.output.path = _abs(cfg.output.path)
    cfg.output.checkpoint_path = _abs(cfg.output.checkpoint_path)
    cfg.prompts_dir = _abs(cfg.prompts_dir)
    cfg.stages.label.persona_file = _abs(cfg.stages.label.persona_file)
    cfg.stages.contamination.eval_files = [_abs(p) for p in cfg.stages.contamination.eval_files]
    for engine in cfg.engines.values():
        engine.model = _abs(engine.model)
    return cfg


def check_local_paths(cfg: Config) -> None:
    """Errors a config can be checked for on the submitting machine: model folders that do not exist."""
    for name, engine in cfg.engines.items():
        if "://" in engine.model:
            raise ConfigError(f"engines.{name}.model: {engine.model!r} must be a local folder (no hub downloads)")
        if not (Path(engine.model) / "config.json").exists():
            raise ConfigError(
                f"engines.{name}.model: no model at {engine.model!r} (a folder with config.json is expected;"
                " `make model` prepares the local tiny model)"
            )
    persona_file = cfg.stages.label.persona_file
    if persona_file and "://" not in persona_file and not os.path.exists(persona_file):
        raise ConfigError(f"stages.label.persona_file: file not found: {persona_file}")
