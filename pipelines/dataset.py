"""The whole job as one Ray Data dataset: the read, one map operator per stage group, and the parquet write.

Read -> map-type operators -> file write is the shape Ray Data's checkpoint resume needs; the checkpoint
id is the input record's `record_key`, kept through every operator.
"""

from __future__ import annotations

import os

from operators import output, storage
from operators.read_documents import DocumentDatasource
from operators.templates import prompts_version
from pipelines.config import Config
from pipelines.resources import engine_map_args
from pipelines.runner import EngineGroupRunner, Group, GroupRunner


def checkpoint_config(cfg: Config):
    from ray.data.checkpoint import CheckpointConfig

    ckpt = CheckpointConfig(
        id_column="record_key",
        checkpoint_path=storage.strip_scheme(cfg.checkpoint_path),
        override_filesystem=storage.arrow_filesystem(cfg.checkpoint_path, cfg.storage),
        delete_checkpoint_on_success=False,
    )
    ckpt.checkpoint_actor_pool_max_size = 1
    return ckpt


def row_meta(cfg: Config) -> dict[str, str]:
    """What every output row records of how it was made: prompt versions, model per LLM stage, run name."""
    models = {name: os.path.basename(cfg.engines[s.engine].model.rstrip("/")) for name, s in cfg.llm_stages().items()}
    return {"prompts_version": prompts_version(cfg.prompts_dir), "models": output.dumps_models(models),
            "run_name": cfg.run_name}


def build_dataset(cfg: Config, groups: list[Group], admission_name: str | None, namespace: str | None):
    """The dataset up to (not including) the write."""
    import ray

    ds = ray.data.read_datasource(
        DocumentDatasource(
            storage.strip_scheme(cfg.input.path),
            filesystem=storage.arrow_filesystem(cfg.input.path, cfg.storage),
            id_field=cfg.input.id_field,
            text_field=cfg.input.text_field,
            records_per_block=cfg.input.records_per_block,
            limit_per_file=cfg.input.limit_per_file,
        ),
        num_cpus=cfg.ray.task_num_cpus,
    )
    meta, cfg_json = row_meta(cfg), cfg.model_dump_json()
    for i, group in enumerate(groups):
        kwargs = dict(cfg_json=cfg_json, stages=group.stages, first=i == 0,
                      last=i == len(groups) - 1, meta=meta, admission_name=admission_name, namespace=namespace)
        if group.engine is None:
            runner, pool = GroupRunner, dict(batch_size=None, num_cpus=cfg.ray.task_num_cpus,
                                             compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cfg.ray.cpu_actors))
        else:
            runner, pool = EngineGroupRunner, engine_map_args(cfg.engines[group.engine], cfg.ray)
        ds = ds.map_batches(runner, fn_constructor_kwargs=kwargs, batch_format="pyarrow", **pool)
    return ds


def write(ds, cfg: Config) -> None:
    ds.write_parquet(
        storage.strip_scheme(cfg.output.path).rstrip("/"),
        filesystem=storage.arrow_filesystem(cfg.output.path, cfg.storage),
        partition_cols=["status"],
        partitioning_flavor=None,
        schema=output.OUTPUT_SCHEMA,
        ray_remote_args={"num_cpus": cfg.ray.task_num_cpus},
    )
