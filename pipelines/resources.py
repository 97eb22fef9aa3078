"""Fail fast when a stage's actors cannot be scheduled, instead of letting Ray Data wait forever.

Each engine group asks `min_actors` x {CPU: num_cpus, GPU: num_gpus}; plain map and write tasks ask
`ray.task_num_cpus` and need room beside the engine pools. A local run that would wait for a GPU that does not
exist is refused here with the stage's name and its ask (STACK.md shows how such a run otherwise hangs).
"""

from __future__ import annotations

from pipelines.config import Config
from pipelines.runner import Group


class ResourceError(RuntimeError):
    pass


def _nodes() -> list[dict[str, float]]:
    import ray

    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


def check_schedulable(cfg: Config, groups: list[Group], nodes: list[dict[str, float]] | None = None) -> None:
    nodes = _nodes() if nodes is None else nodes
    total = {k: sum(n.get(k, 0.0) for n in nodes) for k in ("CPU", "GPU")}
    # the leading CPU stage group's first actor and one read/write task must fit beside the engine pools
    need = {"CPU": 2 * cfg.ray.task_num_cpus, "GPU": 0.0}
    problems = []
    for group in groups:
        if group.engine is None:
            continue
        eng = cfg.engines[group.engine]
        ask = {"CPU": eng.num_cpus, "GPU": eng.num_gpus}
        fits_one = any(all(n.get(k, 0.0) >= v for k, v in ask.items() if v > 0) for n in nodes)
        label = f"stage group [{group.name}] (engine {group.engine!r})"
        if not fits_one:
            problems.append(f"{label} asks {ask} per actor; no node has that much (nodes: {_fmt(nodes)})")
        for k, v in ask.items():
            need[k] += v * eng.min_actors
    if not problems:
        for k in ("CPU", "GPU"):
            if need[k] > total[k] + 1e-9:
                problems.append(
                    f"the engine pools' minimum actors plus one task ask {need[k]:g} {k} in all; "
                    f"the cluster has {total[k]:g} {k} (lower engines.*.min_actors or the per-actor asks)"
                )
    if problems and not cfg.ray.expect_autoscaling:
        raise ResourceError("cannot schedule: " + "; ".join(problems))


def _fmt(nodes: list[dict[str, float]]) -> str:
    return ", ".join("{" + ", ".join(f"{k}: {n.get(k, 0):g}" for k in ("CPU", "GPU")) + "}" for n in nodes) or "none"
