"""`ares plan`: size a job before paying for it, from a pilot run's token ledger and per-engine throughput figures.

    per engine:  tokens    = target x (the engine's stages' tokens per accepted instance, from the ledger)
                 actor-s   = uncached prompt tokens / prefill tokens/s + output tokens / decode tokens/s
                 GPU-hours = actor-s x GPUs per actor / 3600
    pool split:  actors per engine so that every pool finishes at about the same time on the given GPUs
    wall time:   the slowest pool's actor-hours / its actors
    CPU:         documents x sizing.cpu.ms_per_document + candidates x ms_per_candidate (measured by
                 benchmarks/cpu_cost.py), and the admission actor's calls per second at the plan's pace

Prefill is counted (a judge's uncached prompt is several times its output); prompt tokens served from vLLM's prefix
cache are not (they cost no compute). Prefill and decode are added, not overlapped: an upper bound per actor. The
figures are only as good as the ledger and the throughput figures (`sizing.throughput`, per actor): a local pilot
measures tokens, GPU throughput comes from a GPU pilot or is an estimate, and the output says which.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from operators import storage
from operators.config_base import Strict
from operators.llm.ledger import FIELDS


class EngineThroughput(Strict):
    """What one actor of an engine pool does per second (one vLLM replica: num_gpus GPUs, tensor parallel)."""

    prefill_tokens_per_s: float = Field(gt=0, description="Uncached prompt tokens per second per actor.")
    decode_tokens_per_s: float = Field(gt=0, description="Output tokens per second per actor, at full batches.")
    source: str = Field("estimate", description="Where the figures come from: 'estimate' or the measurement.")


class StageCost(Strict):
    """Engine calls and tokens one stage spends per accepted instance."""

    calls: float = Field(0, ge=0)
    prompt_tokens: float = Field(0, ge=0)
    cached_prompt_tokens: float = Field(0, ge=0)
    output_tokens: float = Field(0, ge=0)


class CPUCost(Strict):
    """The CPU a job spends outside its engines (reading, checks, parsing, admission, writing, Ray Data), measured by
    `benchmarks/cpu_cost.py`: what sizes the CPU asks beside the GPUs."""

    ms_per_document: float = Field(ge=0, description="CPU milliseconds per document read, outside engine calls.")
    ms_per_candidate: float = Field(ge=0, description="CPU milliseconds per candidate in the stages on candidates.")
    admission_calls_per_s: float | None = Field(
        None, gt=0, description="Calls per second the admission actor answers at saturation.")
    documents_per_accepted: float = Field(
        1.0, gt=0, description="Documents read per accepted instance, when no pilot's summary gives it.")
    candidates_per_accepted: float = Field(
        1.0, gt=0, description="Candidates per accepted instance, when no pilot's summary gives it.")
    source: str = Field("estimate", description="Where the figures come from.")


class SizingConfig(Strict):
    """`ares plan`: per-engine throughput, and per-stage costs to use when no pilot ledger is given."""

    throughput: dict[str, EngineThroughput] = Field(default_factory=dict, description="Per engine (engines.<name>).")
    per_accepted: dict[str, StageCost] = Field(
        default_factory=dict, description="Per stage, per accepted instance: estimates, replaced by a pilot's ledger.")
    gpus: int | None = Field(None, ge=1, description="GPUs (CPUs for CPU-only engines) to plan the wall time for; "
                                                      "default: what the pools' max_actors ask.")
    cpu: CPUCost | None = Field(None, description="CPU outside the engines, per document and candidate (measured).")


class PlanError(ValueError):
    """Sizing that cannot be computed; one line naming what is missing."""


@dataclass
class EnginePlan:
    name: str
    stages: list[str]
    calls: float
    prompt_tokens: float
    cached_prompt_tokens: float
    output_tokens: float
    actor_hours: float
    units_per_actor: float  # GPUs (or CPUs) one actor holds
    actors: int = 1
    source: str = ""

    @property
    def uncached_prompt_tokens(self) -> float:
        return self.prompt_tokens - self.cached_prompt_tokens

    @property
    def unit_hours(self) -> float:
        return self.actor_hours * self.units_per_actor

    @property
    def wall_hours(self) -> float:
        return self.actor_hours / self.actors


@dataclass
class Plan:
    target: int
    unit: str  # "GPU" or "CPU"
    units: int
    ledger_source: str
    engines: list[EnginePlan] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)  # ledger stages the config runs on no engine
    cpu: "CPUPlan | None" = None

    @property
    def wall_hours(self) -> float:
        return max(e.wall_hours for e in self.engines)


@dataclass
class CPUPlan:
    """The CPU outside the engines for the plan's target, at the pace of its wall time."""

    documents: float
    candidates: float
    cpu_hours: float
    cpus_busy: float  # CPUs kept busy on average over the plan's wall time
    admission_calls_per_s: float
    admission_capacity: float | None
    source: str
    counts_source: str


def admission_calls_per_document(cfg: Any) -> float:
    """Calls the stages make to the admission actor per document: the reader group claims its documents' ids once
    per block, each LLM stage asks `gate` once per batch, plan asks for the full domains and admission admits and
    reports once per batch (a batch being its engine group's batch size)."""
    batch = {s: cfg.engines[c.engine].batch_size for s, c in cfg.llm_stages().items()}
    last = cfg.engines[list(cfg.llm_stages().values())[-1].engine].batch_size if batch else cfg.input.records_per_block
    return 1 / cfg.input.records_per_block + sum(1 / b for b in batch.values()) + 3 / last


def cpu_plan(cfg: Any, p: "Plan", counts: tuple[float, float, str] | None) -> "CPUPlan | None":
    """`sizing.cpu`'s measured costs for the plan: (documents, candidates per accepted instance, where from) come
    from a pilot's summary when given, else from `sizing.cpu`'s estimates."""
    cost = cfg.sizing.cpu
    if cost is None:
        return None
    docs, cands, where = counts or (cost.documents_per_accepted, cost.candidates_per_accepted, "sizing.cpu estimates")
    n_docs, n_cands = p.target * docs, p.target * cands
    hours = (n_docs * cost.ms_per_document + n_cands * cost.ms_per_candidate) / 3.6e6
    seconds = p.wall_hours * 3600
    return CPUPlan(n_docs, n_cands, hours, hours * 3600 / seconds if seconds else 0.0,
                   n_docs * admission_calls_per_document(cfg) / seconds if seconds else 0.0,
                   cost.admission_calls_per_s, cost.source, where)


def summary_counts(summary: dict[str, Any]) -> tuple[float, float, str] | None:
    """(documents read, candidates) per accepted instance of a pilot's summary."""
    accepted = summary.get("accepted")
    if not accepted or not summary.get("documents_read"):
        return None
    return summary["documents_read"] / accepted, (summary.get("candidates") or 0) / accepted, "the pilot's summary"


def read_summary(path: str, cfg: Any) -> dict[str, Any]:
    """A run's summary.json (or its output folder's)."""
    if not path.endswith(".json"):
        path = path.rstrip("/") + "/summary.json"
    try:
        fs = storage.fsspec_filesystem(path, cfg.storage)
        target = storage.strip_scheme(path)
        if not fs.exists(target):
            raise PlanError(f"ledger {path}: no such file (run a pilot first, or give sizing.per_accepted estimates)")
        summary = json.loads(fs.cat(target))
    except PlanError:
        raise
    except Exception as exc:  # unreachable storage, no credentials, not JSON: one line, never a traceback
        raise PlanError(f"ledger {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    return summary


def load_ledger(path: str, cfg: Any) -> dict[str, dict[str, float]]:
    """Per-stage costs per accepted instance from a run's summary.json (or its output folder)."""
    summary = read_summary(path, cfg)
    ledger = summary.get("ledger")
    if not ledger:
        raise PlanError(f"ledger {path}: this summary has no token ledger")
    if not ledger.get("per_accepted"):
        raise PlanError(f"ledger {path}: the pilot accepted no instances, so there is no cost per accepted instance "
                        "(run a larger pilot, or give sizing.per_accepted estimates)")
    return {s: row for s, row in ledger["per_accepted"].items() if s != "total"}


def use_throughput(cfg: Any, path: str) -> None:
    """Replace `sizing.throughput` of the engines named in a rates file (`{"engines": {name: {prefill_tokens_per_s,
    decode_tokens_per_s, source}}}`, what benchmarks/gpu_occupancy.py --rates writes) by its measured figures."""
    try:
        with open(path) as f:
            engines = json.load(f)["engines"]
        for name, rates in engines.items():
            if name in cfg.engines:
                cfg.sizing.throughput[name] = EngineThroughput.model_validate(rates)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"throughput {path}: cannot be used ({type(exc).__name__}: {exc})") from None


def split(engines: list[EnginePlan], units: int) -> None:
    """Actors per engine: one each, then one more at a time to the pool that would finish last, while it fits."""
    for e in engines:
        e.actors = 1
    left = units - sum(e.units_per_actor for e in engines)
    if left < 0:
        raise PlanError(f"{units} devices cannot hold one actor of each engine "
                        f"({sum(e.units_per_actor for e in engines):g} needed)")
    while True:
        fits = [e for e in engines if e.units_per_actor <= left + 1e-9]
        if not fits:
            return
        slowest = max(fits, key=lambda e: e.wall_hours)
        if slowest.wall_hours < max(e.wall_hours for e in engines) - 1e-12:
            return  # the pool that finishes last cannot grow: more actors elsewhere change nothing
        slowest.actors += 1
        left -= slowest.units_per_actor


def plan(cfg: Any, target: int, costs: dict[str, dict[str, float]], ledger_source: str,
         units: int | None = None, counts: tuple[float, float, str] | None = None) -> Plan:
    """The sizing arithmetic (module docstring) for `target` accepted instances; with `sizing.cpu`, the CPU outside
    the engines too (`counts`: documents and candidates per accepted instance of a pilot, see `cpu_plan`)."""
    llm = cfg.llm_stages()
    by_engine: dict[str, list[str]] = {}
    unassigned = []
    for stage in costs:
        if stage in llm:
            by_engine.setdefault(llm[stage].engine, []).append(stage)
        else:
            unassigned.append(stage)
    if not by_engine:
        raise PlanError("the ledger names no stage that this config runs on an engine")
    gpu = any(cfg.engines[e].num_gpus > 0 for e in by_engine)
    unit = "GPU" if gpu else "CPU"
    engines = []
    for name, stages in by_engine.items():
        tp = cfg.sizing.throughput.get(name)
        if tp is None:
            raise PlanError(f"sizing.throughput.{name}: no throughput figures for engine {name!r} "
                            "(prefill_tokens_per_s, decode_tokens_per_s per actor)")
        sums = {f: target * sum(costs[s].get(f, 0) for s in stages) for f in FIELDS if f != "seconds"}
        uncached = sums["prompt_tokens"] - sums["cached_prompt_tokens"]
        seconds = uncached / tp.prefill_tokens_per_s + sums["output_tokens"] / tp.decode_tokens_per_s
        eng = cfg.engines[name]
        per_actor = eng.num_gpus if gpu else eng.num_cpus
        if per_actor <= 0:
            raise PlanError(f"engines.{name}: asks no {unit} per actor; plan GPU and CPU engines separately")
        engines.append(EnginePlan(name, stages, sums["calls"], sums["prompt_tokens"], sums["cached_prompt_tokens"],
                                  sums["output_tokens"], seconds / 3600, per_actor, source=tp.source))
    if units is None:
        units = cfg.sizing.gpus or math.floor(sum(cfg.engines[e.name].max_actors * e.units_per_actor
                                                  for e in engines))
    split(engines, units)
    p = Plan(target, unit, units, ledger_source, engines, unassigned)
    p.cpu = cpu_plan(cfg, p, counts)
    return p


def format_plan(p: Plan) -> str:
    lines = [f"sizing for {p.target:,} accepted instances; tokens per accepted instance from {p.ledger_source}",
             f"{'engine':12s} {'calls':>12s} {'prompt tok':>14s} {'cached':>14s} {'uncached':>14s} "
             f"{'output tok':>14s} {'actor-h':>9s} {p.unit + '-h':>9s}  throughput"]
    for e in p.engines:
        lines.append(f"{e.name:12s} {e.calls:>12,.0f} {e.prompt_tokens:>14,.0f} {e.cached_prompt_tokens:>14,.0f} "
                     f"{e.uncached_prompt_tokens:>14,.0f} {e.output_tokens:>14,.0f} {e.actor_hours:>9,.1f} "
                     f"{e.unit_hours:>9,.1f}  {e.source}")
    total = sum(e.unit_hours for e in p.engines)
    lines.append(f"total {p.unit}-hours: {total:,.1f}")
    lines.append(f"pool split on {p.units} {p.unit}s (each pool finishing at about the same time):")
    for e in p.engines:
        lines.append(f"  {e.name:12s} {e.actors:4d} actors x {e.units_per_actor:g} {p.unit} = "
                     f"{e.actors * e.units_per_actor:g} {p.unit}s, {e.wall_hours:,.1f} h  [{', '.join(e.stages)}]")
    lines.append(f"wall time: {p.wall_hours:,.1f} h (the slowest pool)")
    if p.unassigned:
        lines.append(f"not on an engine in this config (not counted): {', '.join(p.unassigned)}")
    if p.cpu is not None:
        c = p.cpu
        lines.append(f"CPU outside the engines ({c.source}): {c.documents:,.0f} documents and {c.candidates:,.0f} "
                     f"candidates ({c.counts_source}) = {c.cpu_hours:,.1f} CPU-hours, {c.cpus_busy:,.1f} CPUs busy "
                     f"over the wall time (beside the engine pools' own asks)")
        capacity = (f" against {c.admission_capacity:,.0f} calls/s measured at saturation "
                    f"({c.admission_capacity / c.admission_calls_per_s:,.0f}x headroom)"
                    if c.admission_capacity and c.admission_calls_per_s else "")
        lines.append(f"admission actor: {c.admission_calls_per_s:,.2f} calls/s at that pace{capacity}")
    return "\n".join(lines)
