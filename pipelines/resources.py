"""What each operator asks of the cluster, from config, in one place; and a start-up check that it fits.

`engine_map_args` is the one translation of an engine's config into Ray Data `map_batches` arguments, used by the
job, `ares score` and the schedulability check. A stage that cannot be scheduled is refused at start-up with its
name and its ask, instead of letting Ray Data wait forever for a GPU that does not exist.

A job that resumes has one more actor than a fresh one: Ray Data puts a CheckpointFilter actor in front of the first
map, and that actor asks Ray Data's default of one whole CPU, which Ray 2.60 does not let a caller change
(`ray/data/_internal/planner/checkpoint/plan_read_op.py`). It does little work (a sorted-id lookup per block), but a
config whose pools fill the cluster would, on resume, leave the read task no room and wait forever; the check counts it.
"""

from __future__ import annotations

from typing import Any

from operators.llm.engine_config import EngineConfig


class ResourceError(RuntimeError):
    pass


CHECKPOINT_FILTER_CPUS = 1  # Ray Data's CheckpointFilter actor on resume (see the module docstring)


def engine_map_args(eng: EngineConfig, ray_cfg: Any) -> dict[str, Any]:
    """`map_batches` keyword arguments of an engine pool: batch size, actor pool (with `max_concurrent_batches`
    calls in flight per actor), per-actor asks, environment, restarts. Everything but the callable and its
    constructor arguments."""
    import ray

    return dict(
        batch_size=eng.batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=eng.min_actors, max_size=eng.max_actors,
                                           max_concurrent_calls_per_actor=eng.max_concurrent_batches),
        num_cpus=eng.num_cpus,
        num_gpus=eng.num_gpus,
        resources=dict(eng.resources) or None,
        runtime_env={"env_vars": dict(eng.env)} if eng.env else None,
        max_restarts=ray_cfg.max_retries,
        max_task_retries=ray_cfg.max_retries,
    )


def _nodes() -> list[dict[str, float]]:
    import ray

    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


def check_schedulable(cfg: Any, pools: list[tuple[str, str]], nodes: list[dict[str, float]] | None = None,
                      resuming: bool = False) -> None:
    """`pools`: (label, engine name) of each engine pool the job starts. Each pool's minimum actors, plus the leading
    CPU stage group's first actor and one read/write task (and, when `resuming`, Ray Data's checkpoint filter actor),
    must fit the cluster; each actor must fit one node, and so must the admission actor's custom resources."""
    nodes = _nodes() if nodes is None else nodes
    total = {k: sum(n.get(k, 0.0) for n in nodes) for k in ("CPU", "GPU")}
    need = {"CPU": 2 * cfg.ray.task_num_cpus + (CHECKPOINT_FILTER_CPUS if resuming else 0), "GPU": 0.0}
    problems = []
    for label, engine in pools:
        args = engine_map_args(cfg.engines[engine], cfg.ray)
        ask = {"CPU": args["num_cpus"], "GPU": args["num_gpus"], **(args["resources"] or {})}
        fits_one = any(all(n.get(k, 0.0) >= v for k, v in ask.items() if v > 0) for n in nodes)
        where = f"{label} (engine {engine!r})"
        if not fits_one:
            problems.append(f"{where} asks {ask} per actor; no node has that much (nodes: {_fmt(nodes, ask)})")
        for k, v in ask.items():
            need[k] = need.get(k, 0.0) + v * args["compute"].min_size
    admission = dict(cfg.ray.admission_resources)
    if admission and not any(all(n.get(k, 0.0) >= v for k, v in admission.items()) for n in nodes):
        problems.append(f"the admission actor asks {admission} (ray.admission_resources); no node has that much "
                        f"(nodes: {_fmt(nodes, admission)})")
    if not problems:
        for k in need:
            total.setdefault(k, sum(n.get(k, 0.0) for n in nodes))
            if need[k] > total[k] + 1e-9:
                filter_note = (f" (with Ray Data's checkpoint filter actor, {CHECKPOINT_FILTER_CPUS} CPU, which a "
                               "resumed job adds)" if resuming and k == "CPU" else "")
                problems.append(
                    f"the engine pools' minimum actors plus one task ask {need[k]:g} {k} in all{filter_note}; "
                    f"the cluster has {total[k]:g} {k} (lower engines.*.min_actors or the per-actor asks)"
                )
    if problems and not cfg.ray.expect_autoscaling:
        raise ResourceError("cannot schedule: " + "; ".join(problems))


def _fmt(nodes: list[dict[str, float]], ask: dict[str, float]) -> str:
    keys = ["CPU", "GPU"] + [k for k in ask if k not in ("CPU", "GPU")]
    return ", ".join("{" + ", ".join(f"{k}: {n.get(k, 0):g}" for k in keys) + "}" for n in nodes) or "none"
