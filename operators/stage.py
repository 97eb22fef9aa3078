"""The stage contract: a stage declares its name, what it reads and writes, its config, and whether it may be off.

A stage is a function over a batch of documents, `run(docs, ctx)`, that records verdicts on documents and
candidates. Its name is its config key (`stages.<name>`), the name of the verdicts it records, its module in
`operators/stages/` and, for an LLM stage, its prompt template (`operators/prompts/<name>.txt`). An LLM stage is one
whose config is an `LLMStageConfig`: it names an engine and sampling parameters. `check_chain` refuses, before
anything runs, a flow whose enabled stages read a field that no enabled stage before them writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pydantic import Field

from operators.config_base import Strict
from operators.llm.sampling import SamplingConfig
from operators.state import field_names

if TYPE_CHECKING:
    from operators.llm.client import LLMClient
    from operators.state import DocumentState


class StageConfig(Strict):
    enabled: bool = True


class EngineUse(Strict):
    """What an LLM stage's config holds: which engine pool its calls go to, and how they sample."""

    engine: str = Field("default", description="The engine pool (engines.<name>) this stage's calls go to.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


class LLMStageConfig(StageConfig, EngineUse):
    pass


class ChainError(ValueError):
    """An enabled chain of stages that cannot work; the message is one line naming the stage and the field."""


@dataclass
class StageContext:
    """What a stage function receives besides its documents."""

    cfg: Any  # the job's validated config (pipelines.config.Config)
    stage: str = ""
    conf: Any = None  # this stage's own config, cfg.stages.<stage>
    llm: "LLMClient | None" = None
    services: dict[str, Any] = field(default_factory=dict)  # named-actor handles (admission)

    @property
    def prompts_dir(self) -> str | None:
        return self.cfg.prompts_dir

    def for_stage(self, name: str) -> "StageContext":
        return StageContext(self.cfg, name, getattr(self.cfg.stages, name, None), self.llm, self.services)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[list["DocumentState"], StageContext], None]
    doc: str  # one line: what it decides
    reads: frozenset[str] = frozenset()  # document.<field> / candidate.<field> it needs set by stages before it
    writes: frozenset[str] = frozenset()
    config: type[Strict] = StageConfig  # a StageConfig; without a switch of its own when switched_by is set
    optional: bool = True  # may `stages.<name>.enabled=false` switch it off?
    verdicts: tuple[str, ...] = ()  # verdict names it records besides its own (e.g. admission: quota, dedup)
    templates: tuple[str, ...] | None = None  # prompt templates it renders (None: an LLM stage's own name)
    switched_by: str | None = None  # runs exactly when that stage is enabled (its own config has no switch)

    def __post_init__(self) -> None:
        known = field_names("document") | field_names("candidate")
        for name in self.reads | self.writes:
            if name not in known:
                raise ValueError(f"stage {self.name}: {name!r} is no field of a document or a candidate")
        object.__setattr__(self, "reads", frozenset(self.reads))
        object.__setattr__(self, "writes", frozenset(self.writes))
        if self.templates is None:
            object.__setattr__(self, "templates", (self.name,) if self.llm else ())

    @property
    def llm(self) -> bool:
        return issubclass(self.config, EngineUse)

    def is_on(self, stages_cfg: Any) -> bool:
        return getattr(stages_cfg, self.switched_by or self.name).enabled

    @property
    def verdict_names(self) -> tuple[str, ...]:
        return (self.name, *self.verdicts)


def stage(name: str, run: Callable, doc: str, *, reads: Iterable[str] = (), writes: Iterable[str] = (),
          config: type[Strict] = StageConfig, optional: bool = True, verdicts: tuple[str, ...] = (),
          templates: tuple[str, ...] | None = None, switched_by: str | None = None) -> Stage:
    """Declare a stage (keyword arguments read as its contract)."""
    return Stage(name, run, doc, frozenset(reads), frozenset(writes), config, optional, verdicts, templates,
                 switched_by)


# What the reader sets on every document before the first stage runs.
READ_FIELDS = frozenset({"document.record_key", "document.doc_id", "document.source", "document.row",
                         "document.text", "document.read_error"})


def check_chain(flow: list[Stage], stages_cfg: Any) -> list[Stage]:
    """The enabled stages, in order, once each one's reads are written by the reader or an enabled stage before
    it; otherwise a ChainError naming the stage, the field and the switch that broke the chain."""
    writers = {f: s.switched_by or s.name for s in reversed(flow) for f in s.writes}  # the switch that turns it on
    available = set(READ_FIELDS)
    out = []
    for s in flow:
        if not s.is_on(stages_cfg):
            if not s.optional:
                raise ChainError(f"stages.{s.name}.enabled: the {s.name} stage cannot be disabled ({s.doc})")
            continue
        missing = sorted(s.reads - available)
        if missing:
            f = missing[0]
            who = writers.get(f)
            because = f"; stages.{who}.enabled=false switched off the stage that writes it" if who else ""
            raise ChainError(f"stages.{s.name}: it reads {f}, which no enabled stage before it writes{because}")
        available |= s.writes
        out.append(s)
    return out
