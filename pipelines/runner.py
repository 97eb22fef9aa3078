"""Run a group of stages over a batch of documents inside one Ray Data operator.

Consecutive stages that use the same engine form one group: one actor pool, one vLLM engine per actor, the stages
run in order on each batch (so a document's calls hit a warm prefix cache). Cheap CPU stages join the group before
them. An engine group keeps `engines.<name>.max_concurrent_batches` batches in flight per actor (an async
`__call__`, each batch's stages in a thread of the actor's pool, all feeding the one engine), so the engine is never
drained by one batch's parsing, checks or admission calls. A document stays one row throughout.

A stage that raises is retried document by document; a document that still raises is rejected with the error and
counted against `ray.max_errored_fraction`, so one bad row never kills a 100K job. Before each LLM stage the
admission service is asked whether the target or a domain's quota is met: documents it stops spend no engine call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from operators import output
from operators.llm.client import EngineFailure, build_client
from operators.services.admission import AdmissionClient, TooManyErrors
from operators.services.progress import StageRecorder
from operators.stage import Stage, StageContext
from operators.state import DocumentState
from pipelines.config import Config

log = logging.getLogger(__name__)
STATE_SCHEMA = pa.schema([("record_key", pa.string()), ("state", pa.large_string())])


@dataclass
class Group:
    engine: str | None
    stages: list[Stage] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "+".join(s.name for s in self.stages)


def group_stages(stages: list[Stage], cfg: Config) -> list[Group]:
    """A CPU stage joins the group before it (leading CPU stages form a task group of their own); an LLM stage
    joins the group before it when that group uses the same engine, else starts a new one."""
    groups: list[Group] = []
    for stage in stages:
        engine = getattr(cfg.stages, stage.name).engine if stage.llm else None
        if groups and (engine is None or engine == groups[-1].engine):
            groups[-1].stages.append(stage)
        else:
            groups.append(Group(engine, [stage]))
    return groups


def engine_pools(groups: list[Group]) -> list[tuple[str, str]]:
    """(label, engine) of each group that runs an engine: what the job asks of the cluster beside its tasks."""
    return [(f"stage group [{g.name}]", g.engine) for g in groups if g.engine is not None]


class GroupRunner:
    """Callable class for `map_batches`: the engine is built once per actor, then batches stream through."""

    def __init__(self, cfg_json: str, stages: list[Stage], first: bool, last: bool, meta: dict[str, Any],
                 admission_name: str | None, namespace: str | None):
        import ray

        self.cfg = Config.model_validate_json(cfg_json)
        self.stages = stages
        self.first, self.last, self.meta = first, last, meta
        engines = {getattr(self.cfg.stages, s.name).engine for s in self.stages if s.llm}
        llm = None
        if engines:
            (engine_name,) = engines
            llm = build_client(self.cfg.engines[engine_name])
        services: dict[str, Any] = {}
        if admission_name:
            services["admission"] = AdmissionClient(ray.get_actor(admission_name, namespace=namespace))
        self.ctx = StageContext(cfg=self.cfg, llm=llm, services=services)
        from pipelines.progress import progress_actor_name

        self.progress = StageRecorder.connect(progress_actor_name(self.cfg), namespace)  # counts for the progress table

    @property
    def gated(self) -> bool:
        """Is there a target or a quota to stop at (and an admission service to ask)?"""
        quotas = self.cfg.stages.admission.quota
        return self.ctx.services.get("admission") is not None and (
            self.cfg.target.accepted is not None or bool(quotas.per_domain) or quotas.default is not None)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.process(batch)

    def process(self, batch: pa.Table) -> pa.Table:
        started = time.time()
        if self.first:
            docs = [DocumentState.from_read_row(row) for row in batch.to_pylist()]
        else:
            docs = [DocumentState.model_validate_json(s) for s in batch.column("state").to_pylist()]
        for stage in self.stages:
            if stage.llm and self.gated:
                self._gate(stage, docs)
            try:
                with self.progress.stage(stage, docs):
                    self._run_stage(stage, docs)
            except EngineFailure:
                # Die, so that Ray restarts this actor with a fresh engine and retries the batch
                # (engines' max_restarts / max_task_retries = ray.max_retries).
                print(f"[ares] engine failure in stage {stage.name}; restarting the actor:\n"
                      f"{traceback.format_exc(limit=4)}", file=sys.stderr, flush=True)
                os._exit(70)
        if self.ctx.llm is not None:
            cands = [c for d in docs for c in d.candidates]
            print(f"[ares] {'+'.join(s.name for s in self.stages)}: {len(docs)} documents, {len(cands)} candidates "
                  f"({sum(c.alive or c.status == 'accepted' for c in cands)} still in) in {time.time() - started:.1f} s",
                  flush=True)
        if self.last:
            return output.to_table([row for doc in docs for row in output.to_rows(doc, self.meta)])
        return pa.table(
            {"record_key": [d.record_key for d in docs], "state": [d.model_dump_json() for d in docs]},
            schema=STATE_SCHEMA,
        )

    def _gate(self, stage: Stage, docs: list[DocumentState]) -> None:
        """Stop the documents whose work admission would refuse: all of them once the target (or every domain's
        quota) is met, those of a full domain otherwise. They and their candidates are rejected as `quota`."""
        live = [d for d in docs if d.alive]
        if not live:
            return
        met, full = self.ctx.services["admission"].gate([d.record_key for d in live])
        if met is None and set(self.cfg.stages.label.domains) <= set(full):
            met = "every domain's quota is met"
        for doc in live:
            reason = met or (f"quota of accepted instances for domain {doc.domain!r} is met" if doc.domain in full
                             else None)
            if reason is None:
                continue
            reason = f"{reason}; stopped before {stage.name}"
            for cand in doc.live_candidates():
                cand.record("quota", False, reason)
            doc.record("quota", False, reason)

    def _run_stage(self, stage: Stage, docs: list[DocumentState]) -> None:
        ctx = self.ctx.for_stage(stage.name)
        snapshot = [d.model_dump_json() for d in docs]  # JSON is far cheaper than a deep copy of the models
        try:
            stage.run(docs, ctx)
            return
        except (TooManyErrors, EngineFailure):
            raise
        except Exception:
            log.warning("stage %s failed on a batch of %d; retrying document by document:\n%s",
                        stage.name, len(docs), traceback.format_exc(limit=3))
        for i, saved in enumerate(snapshot):
            original = DocumentState.model_validate_json(saved)
            trial = DocumentState.model_validate_json(saved)  # a failed try must leave no half-applied change behind
            try:
                stage.run([trial], ctx)
                docs[i] = trial
            except (TooManyErrors, EngineFailure):
                raise
            except Exception as exc:
                reason = f"{original.source} row {original.row}: stage {stage.name} raised {type(exc).__name__}: {exc}"
                original.errored = True
                original.record(stage.name, False, reason[:1000])
                for cand in original.candidates:
                    if cand.alive:
                        cand.record(stage.name, False, reason[:1000])
                docs[i] = original


class EngineGroupRunner(GroupRunner):
    """An engine group: an async `__call__`, so Ray Data keeps several batches in flight on one actor (its
    `max_concurrency`); each batch's stages run in a thread of this actor's pool, their calls all go to the one
    engine, which batches them together. The pool's size caps the batches being worked on at once."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        engine = next(getattr(self.cfg.stages, s.name).engine for s in self.stages if s.llm)
        self.pool = ThreadPoolExecutor(self.cfg.engines[engine].max_concurrent_batches, thread_name_prefix="batch")

    async def __call__(self, batch: pa.Table) -> pa.Table:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.process, batch)
