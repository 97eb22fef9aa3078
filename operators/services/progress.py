"""Live progress of a job: per stage, the rows that came in, went on and were rejected, and how fast.

A stage group runs inside Ray Data actors that no one else can see into, so each actor counts, per batch, what each
of its stages did to the batch's documents and candidates, and sends the counts to one named actor. Sending is fire
and forget: progress must never slow a job down or fail it. The driver polls that actor to draw the progress table
(`pipelines/progress.py`).

A stage's rows are documents until candidates exist and candidates from then on: a stage that reads or writes a
candidate's fields counts candidates, except the one that creates them (it writes `document.candidates`), which
takes documents in and hands candidates on. A batch that Ray retries (its actor died) is counted again: the table
is for people; the exact counts are the output's (summary.json).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterator

import ray

if TYPE_CHECKING:
    from operators.stage import Stage
    from operators.state import DocumentState

ACTOR_PREFIX = "ares-progress-"


def stage_unit(stage: "Stage") -> str:
    """'documents' or 'candidates': what the stage's in/out/rejected counts count (see the module docstring)."""
    if "document.candidates" in stage.writes:
        return "documents"
    touches = stage.reads | stage.writes
    return "candidates" if any(f.startswith("candidate.") for f in touches) else "documents"


@dataclass
class StageTally:
    """What one stage did, summed over batches (or for one batch)."""

    unit: str
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    errored: int = 0  # documents the stage raised on (rejected with the error)
    candidates_made: int = 0
    accepted: int = 0
    busy_seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the thread that ran the stage (engine work runs elsewhere)
    first_start: float | None = None
    last_end: float | None = None

    def add(self, other: "StageTally") -> None:
        for name in ("rows_in", "rows_out", "rejected", "errored", "candidates_made", "accepted", "busy_seconds",
                     "cpu_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        starts = [t for t in (self.first_start, other.first_start) if t is not None]
        ends = [t for t in (self.last_end, other.last_end) if t is not None]
        self.first_start = min(starts) if starts else None
        self.last_end = max(ends) if ends else None

    @property
    def rows_per_second(self) -> float | None:
        """Rows in per second of the stage's active span (its first batch's start to its last batch's end)."""
        if self.first_start is None or self.last_end is None or self.last_end <= self.first_start:
            return None
        return self.rows_in / (self.last_end - self.first_start)


def _census(docs: list["DocumentState"]) -> dict[str, Any]:
    return {
        "alive_docs": [d.alive for d in docs],
        "errored": sum(d.errored for d in docs),
        "live": {c.candidate_id for d in docs for c in d.live_candidates()},
        "candidates": sum(len(d.candidates) for d in docs),
        "accepted": sum(c.status == "accepted" for d in docs for c in d.candidates),
    }


def tally(unit: str, before: dict[str, Any], docs: list["DocumentState"], started: float, ended: float,
          cpu_seconds: float = 0.0) -> StageTally:
    """What a stage did to `docs`, given the census taken before it ran."""
    after = _census(docs)
    t = StageTally(unit=unit, errored=max(0, after["errored"] - before["errored"]),
                   candidates_made=max(0, after["candidates"] - before["candidates"]),
                   accepted=max(0, after["accepted"] - before["accepted"]),
                   busy_seconds=ended - started, cpu_seconds=cpu_seconds, first_start=started, last_end=ended)
    if unit == "documents":
        was, now = before["alive_docs"], after["alive_docs"]
        t.rows_in = sum(was)
        t.rejected = sum(1 for a, b in zip(was, now) if a and not b)
        t.rows_out = t.rows_in - t.rejected
        if t.candidates_made:  # the stage that makes candidates hands candidates on; those refused at birth count
            went_on = len(after["live"] - before["live"])  # as rejected beside the documents it rejected
            t.rejected += t.candidates_made - went_on
            t.rows_out = went_on
    else:
        went_on = after["live"] | {c.candidate_id for d in docs for c in d.candidates if c.status == "accepted"}
        t.rows_in = len(before["live"])
        t.rows_out = len(before["live"] & went_on)
        t.rejected = t.rows_in - t.rows_out
    return t


class Progress:
    """The job-wide sums; `ProgressActor` hosts it in Ray."""

    def __init__(self) -> None:
        self.stages: dict[str, StageTally] = {}

    def add(self, name: str, fields: dict[str, Any]) -> None:
        """What stage `name` did to one batch (a StageTally as a dict)."""
        t = StageTally(**fields)
        if name in self.stages:
            self.stages[name].add(t)
        else:
            self.stages[name] = t

    def snapshot(self) -> dict[str, Any]:
        return {"stages": {name: {**asdict(t), "rows_per_second": t.rows_per_second}
                           for name, t in self.stages.items()}}


ProgressActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(Progress)


def actor_name(job_key: str) -> str:
    return ACTOR_PREFIX + job_key


class StageRecorder:
    """What the runner calls: `with recorder.stage(stage, docs):` around each stage of a batch. Each stage's counts
    are sent as soon as it is done, so a long batch shows its stages advancing; with them the stage's CPU time in the
    batch's thread (`time.thread_time`), which sizes the CPU a cluster needs beside its engines. Without a progress actor (unit
    tests, `ares score`) it counts nothing and sends nothing."""

    def __init__(self, actor: Any = None):
        self.actor = actor

    @classmethod
    def connect(cls, name: str, namespace: str | None) -> "StageRecorder":
        if not ray.is_initialized():
            return cls(None)
        try:
            return cls(ray.get_actor(name, namespace=namespace))
        except ValueError:  # no such actor: this job draws no progress
            return cls(None)

    @contextmanager
    def stage(self, stage: "Stage", docs: list["DocumentState"]) -> Iterator[None]:
        """Count what the body does to `docs` (the same list object, changed in place)."""
        if self.actor is None:
            yield
            return
        before, started, cpu = _census(docs), time.time(), time.thread_time()
        yield
        cpu = time.thread_time() - cpu  # the stage's own CPU: an engine computes in other threads or processes
        counts = asdict(tally(stage_unit(stage), before, docs, started, time.time(), cpu))
        try:
            self.actor.add.remote(stage.name, counts)  # fire and forget
        except Exception:  # a progress actor that is gone must not fail the batch
            pass
