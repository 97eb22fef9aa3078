"""Drive one ARES job: preflight checks, Ray start, the streaming dataset, the write, and the summary.

Everything that can fail cheaply fails before a model loads: config, model folders, input and output locations,
credentials, and whether each stage's actors fit the cluster. A rerun of the same command resumes from Ray Data's
checkpoint: committed rows are skipped, nothing is written twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import os
import posixpath
import time
from typing import Any

from operators import output, storage
from operators.admission import AdmissionActor, actor_name
from operators.journal import Journal
from operators.prompts import prompts_version
from operators.read_documents import DocumentDatasource
from pipelines import resources
from pipelines.checkpoint_repair import complete_interrupted_commits
from pipelines.ares import active_stages
from pipelines.config import Config, ConfigError, check_local_paths
from pipelines.runner import GroupRunner, group_stages

log = logging.getLogger("ares")
NAMESPACE = "ares"


class JobError(RuntimeError):
    """A job that cannot start or finish; the message is meant for the user as it is."""


def _output_state(cfg: Config) -> tuple[bool, bool]:
    """(output holds data, checkpoint exists)."""
    has_data = any(storage.exists(f"{cfg.output.path.rstrip('/')}/{d}", cfg.storage) for d in ("accepted", "rejected"))
    return has_data, storage.exists(cfg.checkpoint_path, cfg.storage)


def preflight(cfg: Config) -> str:
    """Check everything that can be checked before Ray starts; return 'fresh' or 'resume'."""
    if cfg.ray.address == "local":
        check_local_paths(cfg)
    try:
        n_files = storage.check_input(cfg.input.path, cfg.storage)
        has_data, has_ckpt = _output_state(cfg)
        if has_data or has_ckpt:
            if cfg.output.on_existing == "error":
                raise JobError(f"output {cfg.output.path} already exists (output.on_existing=error)")
            if cfg.output.on_existing == "overwrite":
                _delete(cfg.output.path, cfg)
                _delete(cfg.checkpoint_path, cfg)
                has_data = has_ckpt = False
            elif has_data and not has_ckpt:
                raise JobError(
                    f"output {cfg.output.path} holds data but no checkpoint at {cfg.checkpoint_path}: it cannot be "
                    "resumed safely; choose another output.path or set output.on_existing=overwrite"
                )
        storage.check_writable(cfg.output.path, cfg.storage)
        storage.check_writable(cfg.checkpoint_path, cfg.storage)
        if has_ckpt:
            complete_interrupted_commits(
                storage.fsspec_filesystem(cfg.checkpoint_path, cfg.storage),
                storage.strip_scheme(cfg.checkpoint_path).rstrip("/"),
            )
    except storage.StorageError as exc:
        raise JobError(str(exc)) from None
    mode = "resume" if has_ckpt else "fresh"
    log.info("input %s: %d file(s); output %s (%s)", cfg.input.path, n_files, cfg.output.path, mode)
    return mode


def _delete(path: str, cfg: Config) -> None:
    fs = storage.fsspec_filesystem(path, cfg.storage)
    bare = storage.strip_scheme(path).rstrip("/")
    if fs.exists(bare):
        fs.rm(bare, recursive=True)


def start_ray(cfg: Config) -> None:
    import ray

    # Credentials reach workers through the nodes' own environment (inherited locally; a Kubernetes secret or an
    # instance role on a cluster), never through runtime_env, which the dashboard and job records display.
    kwargs: dict[str, Any] = dict(namespace=NAMESPACE, log_to_driver=True)
    if cfg.ray.address == "local":
        from pipelines.local_cleanup import reap_orphaned_engines

        reap_orphaned_engines()
        kwargs.update(address="local", num_cpus=cfg.ray.num_cpus, include_dashboard=False)
    else:
        kwargs.update(address=cfg.ray.address)
    if not ray.is_initialized():
        ray.init(**kwargs)


def read_committed(cfg: Config, status: str, columns: list[str]):
    """Columns of the rows already written under <output>/<status>/, or None when there are none."""
    import pyarrow.dataset as pads

    if not storage.exists(f"{cfg.output.path.rstrip('/')}/{status}", cfg.storage):
        return None
    path = f"{storage.strip_scheme(cfg.output.path).rstrip('/')}/{status}"
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    return pads.dataset(path, filesystem=fs, format="parquet").to_table(columns=columns)


def committed_state(cfg: Config) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """What the admission actor must know after a restart: accepted (candidate_id, domain, question) rows and
    the {doc_id: record_key} owners of the documents already written."""
    accepted: list[tuple[str, str, str]] = []
    owners: dict[str, str] = {}
    for status in ("accepted", "rejected"):
        table = read_committed(cfg, status, ["candidate_id", "domain", "question", "doc_id", "record_key",
                                             "reject_stage", "reject_reason"])
        if table is None:
            continue
        for row in table.to_pylist():
            if status == "accepted":
                accepted.append((row["candidate_id"], row["domain"], row["question"]))
            is_dup = row["reject_stage"] == "read" and "duplicate document id" in (row["reject_reason"] or "")
            if row["doc_id"] is not None and not is_dup:
                owners.setdefault(row["doc_id"], row["record_key"])
    return accepted, owners


def _admission_journal(cfg: Config) -> Journal:
    """This attempt's admission journal, beside the checkpoint (scratch, like it; not part of the output)."""
    path = cfg.checkpoint_path.rstrip("/") + ".admission"
    return Journal(storage.fsspec_filesystem(path, cfg.storage), storage.strip_scheme(path))


def _admission_actor(cfg: Config):
    q, d = cfg.stages.quota, cfg.stages.dedup
    # one per output: two jobs writing to different places never share quotas or a duplicate index
    name = actor_name(f"{cfg.run_name}-{hashlib.sha256(cfg.output.path.encode()).hexdigest()[:10]}")
    cfg_json = cfg.model_dump_json()

    def seed_from():
        from pipelines.config import Config as _Config

        return committed_state(_Config.model_validate_json(cfg_json))

    def journal():
        from pipelines.config import Config as _Config

        return _admission_journal(_Config.model_validate_json(cfg_json))

    # a new attempt starts from the committed output alone: rows a killed attempt had admitted were lost with it
    _admission_journal(cfg).clear()
    return AdmissionActor.options(name=name, namespace=NAMESPACE, get_if_exists=True).remote(
        q.per_domain, q.default, d.enabled, d.threshold, d.num_perm, cfg.ray.max_errored_fraction,
        seed_from=seed_from, journal=journal,
    ), name


def build_dataset(cfg: Config, admission_name: str | None):
    """The whole pipeline as one Ray Data dataset, ending in the parquet write."""
    import ray

    in_fs = storage.arrow_filesystem(cfg.input.path, cfg.storage)
    ds = ray.data.read_datasource(
        DocumentDatasource(
            storage.strip_scheme(cfg.input.path),
            filesystem=in_fs,
            id_field=cfg.input.id_field,
            text_field=cfg.input.text_field,
            records_per_block=cfg.input.records_per_block,
            limit_per_file=cfg.input.limit_per_file,
        ),
        num_cpus=cfg.ray.task_num_cpus,
    )
    groups = group_stages(active_stages(cfg), cfg)
    meta = {
        "prompts_version": prompts_version(cfg.prompts_dir),
        "models": output.dumps_models(
            {name: os.path.basename(cfg.engines[s.engine].model.rstrip("/"))
             for name, s in cfg.llm_stages().items() if s.enabled}
        ),
        "run_name": cfg.run_name,
    }
    cfg_json = cfg.model_dump_json()
    for i, group in enumerate(groups):
        kwargs = dict(
            cfg_json=cfg_json, stages=group.stages, first=i == 0, last=i == len(groups) - 1,
            meta=meta, admission_name=admission_name, namespace=NAMESPACE,
        )
        if group.engine is None:
            ds = ds.map_batches(
                GroupRunner, fn_constructor_kwargs=kwargs, batch_format="pyarrow", batch_size=None,
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cfg.ray.cpu_actors),
                num_cpus=cfg.ray.task_num_cpus,
            )
            continue
        eng = cfg.engines[group.engine]
        ds = ds.map_batches(
            GroupRunner, fn_constructor_kwargs=kwargs, batch_format="pyarrow", batch_size=eng.batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=eng.min_actors, max_size=eng.max_actors),
            num_cpus=eng.num_cpus, num_gpus=eng.num_gpus,
            runtime_env={"env_vars": dict(eng.env)} if eng.env else None,
            max_restarts=cfg.ray.max_retries, max_task_retries=cfg.ray.max_retries,
        )
    return ds


def write_summary(cfg: Config, extra: dict[str, Any]) -> dict[str, Any]:
    """Count what the output holds (so a resumed job's summary covers all its runs) and write summary.json."""
    import pyarrow as pa

    cols = ["record_key", "unit", "candidate_id", "reject_stage", "domain", "split", "errored"]
    tables = []
    for status in ("accepted", "rejected"):
        t = read_committed(cfg, status, cols)
        if t is not None:
            tables.append(t.append_column("status", pa.array([status] * len(t), pa.string())))
    table = pa.concat_tables(tables) if tables else output.to_table([])
    summary = output.summarize(table)
    summary["duplicate_candidate_ids"] = len(table) - len(set(table.column("candidate_id").to_pylist()))
    summary.update(extra)
    summary["output"] = cfg.output.path
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    path = posixpath.join(storage.strip_scheme(cfg.output.path).rstrip("/"), "summary.json")
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode())
    return summary


def run(cfg: Config) -> dict[str, Any]:
    """Run (or resume) the job described by `cfg`; returns the summary written beside the output."""
    import ray
    from ray.data import DataContext
    from ray.data.checkpoint import CheckpointConfig

    started = time.time()
    mode = preflight(cfg)
    start_ray(cfg)
    try:
        groups = group_stages(active_stages(cfg), cfg)
        resources.check_schedulable(cfg, groups)
        ctx = DataContext.get_current()
        ctx.checkpoint_config = CheckpointConfig(
            id_column="record_key",
            checkpoint_path=storage.strip_scheme(cfg.checkpoint_path),
            override_filesystem=storage.arrow_filesystem(cfg.checkpoint_path, cfg.storage),
            delete_checkpoint_on_success=False,
        )
        ctx.checkpoint_config.checkpoint_actor_pool_max_size = 1
        admission, name = _admission_actor(cfg)
        log.info("stages: %s", " -> ".join(f"[{g.name}]" + (f"@{g.engine}" if g.engine else "") for g in groups))
        ds = build_dataset(cfg, name)
        out_fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
        try:
            ds.write_parquet(
                storage.strip_scheme(cfg.output.path).rstrip("/"),
                filesystem=out_fs,
                partition_cols=["status"],
                partitioning_flavor=None,
                schema=output.OUTPUT_SCHEMA,
                ray_remote_args={"num_cpus": cfg.ray.task_num_cpus},
            )
        except Exception as exc:
            budget = re.search(r"TooManyErrors: ([^\n]+)", str(exc))
            if budget:  # the error budget was spent: say so in one line (what was written so far stays committed)
                raise JobError(budget.group(1).strip()) from None
            raise
        stats = ray.get(admission.stats.remote())
        summary = write_summary(
            cfg, {"mode": mode, "seconds": round(time.time() - started, 1), "admission": stats}
        )
        ray.kill(admission)
        _admission_journal(cfg).clear()
        return summary
    finally:
        if cfg.ray.address == "local":
            ray.shutdown()


__all__ = ["run", "preflight", "JobError", "ConfigError"]
