"""The job's config models. Defaults live here, and only here: the YAML files in conf/ set what differs.

The `stages` section is built from the flow: one key per stage, `stages.<name>`, holding that stage's own config
model (declared in its module), so a new stage brings its config with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model, field_validator, model_validator

from operators.config_base import Strict
from operators.llm.engine_config import EngineConfig
from operators.llm.sampling import SamplingConfig
from operators.reward import GRADER_SAMPLING
from operators.rubric import RubricSpec
from operators.stage import ChainError, EngineUse, check_chain
from operators.stages.contamination import silently_off
from pipelines.ares import FLOW
from pipelines.plan import SizingConfig


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line naming the key."""


StagesConfig = create_model(
    "StagesConfig",
    __base__=Strict,
    __doc__="One section per stage of the flow, in flow order.",
    **{s.name: (s.config, Field(default_factory=s.config, description=s.doc)) for s in FLOW},
)


class ScoreConfig(Strict):
    """`ares score`: the rubric reward over a file of responses, with one engine as the grader."""

    engine: str = "default"
    batch_size: int = Field(16, ge=1, description="Responses per engine call (each expands to one call per criterion).")
    sampling: SamplingConfig = Field(default_factory=lambda: GRADER_SAMPLING.model_copy())
    explanations: bool = Field(True, description="The grader explains each verdict; false: verdicts only (cheaper).")


class TargetConfig(Strict):
    """When the job has enough: once met, no engine call is spent on new documents (they are written as rejects
    with reject_stage `quota`); calls already in flight finish. Per-domain quotas: `stages.admission.quota`."""

    accepted: int | None = Field(None, ge=1, description="Accepted instances to stop at (null: use all the input).")


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
    cpu_actors: int = Field(4, ge=1, description="Most actors of the leading CPU stage group (ingest, filter, chunking).")
    max_errored_fraction: float = Field(
        0.1, ge=0, le=1, description="Abort when more than this share of documents raised errors."
    )
    max_retries: int = Field(3, ge=0, description="Retries of a task or actor that died (node loss, OOM kill).")
    admission_resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources the admission actor asks for, e.g. {on_demand: 0.01} "
                                          "to keep it off spot nodes; by default Ray places it (no CPU asked)."
    )


class Config(Strict):
    run_name: str = "ares"
    prompts_dir: str | None = Field(None, description="A folder of prompt templates; default: the bundled ones.")
    input: InputConfig
    output: OutputConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    engines: dict[str, EngineConfig] = Field(min_length=1)
    rubric: RubricSpec = Field(default_factory=RubricSpec, description="What every rubric must look like.")
    stages: StagesConfig = Field(default_factory=StagesConfig)  # type: ignore[valid-type]
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig, description="`ares plan`: throughput and costs.")

    @field_validator("engines")
    @classmethod
    def _engine_names(cls, v: dict[str, EngineConfig]) -> dict[str, EngineConfig]:
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"engine name {name!r} must be an identifier")
        return v

    @model_validator(mode="after")
    def _chain_and_engines(self) -> "Config":
        try:
            check_chain(FLOW, self.stages)
        except ChainError as exc:
            raise ConfigError(str(exc)) from None
        if (off := silently_off(self.stages.contamination)) is not None:
            raise ConfigError(off)
        uses = {f"stages.{n}.engine": s.engine for n, s in self.llm_stages().items()}
        uses["score.engine"] = self.score.engine
        uses.update({f"sizing.throughput.{name}": name for name in self.sizing.throughput})
        for key, engine in uses.items():
            if engine not in self.engines:
                raise ConfigError(f"{key}: unknown engine {engine!r} (defined: {sorted(self.engines)})")
        for name in self.sizing.per_accepted:
            if name not in self.llm_stages():
                raise ConfigError(f"sizing.per_accepted.{name}: not an enabled LLM stage")
        return self

    def llm_stages(self) -> dict[str, EngineUse]:
        """The LLM stages that run, their configs by stage name."""
        return {s.name: getattr(self.stages, s.name) for s in FLOW if s.llm and s.is_on(self.stages)}

    def active_stages(self):
        """The enabled stages, in flow order."""
        return check_chain(FLOW, self.stages)

    @property
    def checkpoint_path(self) -> str:
        return self.output.checkpoint_path or self.output.path.rstrip("/") + ".checkpoint"
