"""Run one ARES job: preflight, Ray, the admission service, the streaming dataset and its write, the summary.

A rerun of the same command resumes from Ray Data's checkpoint: committed rows are skipped, nothing is written twice.
While it runs, a progress table (pipelines/progress.py) replaces Ray's and the engines' own output, unless verbose.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from operators.stages import contamination
from pipelines import admission_service, resources
from pipelines.console import configure_ray_data, ray_init_kwargs
from pipelines.config import Config
from pipelines.dataset import build_dataset, checkpoint_config, write
from pipelines.preflight import JobError, preflight
from pipelines.progress import ProgressMonitor
from pipelines.runner import engine_pools, group_stages
from pipelines.summary import write_summary

log = logging.getLogger("ares")


def start_ray(cfg: Config, verbose: bool = False, resuming: bool = False) -> None:
    """Connect to the configured cluster, or start a local one of `ray.num_cpus` CPUs. A local job that resumes gets
    one logical CPU more, for Ray Data's checkpoint filter actor (`resources.CHECKPOINT_FILTER_CPUS`): it asks a whole
    CPU and barely uses it, and without it a config that fits a fresh run would wait forever when it resumes."""
    import ray

    # Credentials reach workers through the nodes' own environment (inherited locally; a Kubernetes secret or an
    # instance role on a cluster), never through runtime_env, which the dashboard and job records display.
    kwargs: dict[str, Any] = dict(namespace=admission_service.NAMESPACE, **ray_init_kwargs(verbose))
    if cfg.ray.address == "local":
        from pipelines.local_cleanup import reap_orphaned_engines

        reap_orphaned_engines()
        num_cpus = cfg.ray.num_cpus  # None: Ray detects them (cgroup quotas included)
        if resuming:
            from ray._private.utils import get_num_cpus  # the count Ray itself would detect

            num_cpus = (num_cpus or get_num_cpus()) + resources.CHECKPOINT_FILTER_CPUS
        kwargs.update(address="local", num_cpus=num_cpus, include_dashboard=False)
    else:
        kwargs.update(address=cfg.ray.address)
    if not ray.is_initialized():
        ray.init(**kwargs)
    configure_ray_data(verbose)


def run(cfg: Config, verbose: bool = False, progress_every: float = 30.0) -> dict[str, Any]:
    """Run (or resume) the job described by `cfg`; returns the summary written beside the output.
    `progress_every`: seconds between progress tables when the output is not a terminal."""
    import ray
    from ray.data import DataContext

    started = time.time()
    mode = preflight(cfg)
    try:  # read every evaluation set before anything starts: a missing file or a bad line is one line, now
        decontamination = contamination.eval_sets(cfg.stages.contamination)
    except (ValueError, OSError) as exc:
        raise JobError(f"stages.contamination.eval_files: {exc}") from None
    start_ray(cfg, verbose, resuming=mode == "resume")
    try:
        groups = group_stages(cfg.active_stages(), cfg)
        resources.check_schedulable(cfg, engine_pools(groups), resuming=mode == "resume")
        DataContext.get_current().checkpoint_config = checkpoint_config(cfg)
        admission, name = admission_service.start(cfg)
        log.info("stages: %s", " -> ".join(f"[{g.name}]" + (f"@{g.engine}" if g.engine else "") for g in groups))
        monitor = ProgressMonitor(cfg, admission, every=progress_every).start()
        try:
            write(build_dataset(cfg, groups, name, admission_service.NAMESPACE), cfg)
        except Exception:
            monitor.stop("failed")
            spent = admission_service.spent_budget(admission)
            if spent is not None:  # the error budget is spent: one line (what was written so far stays committed)
                raise JobError(spent) from None
            raise
        monitor.stop("finished")
        stats = admission_service.stop(cfg, admission)
        return write_summary(cfg, {"mode": mode, "seconds": round(time.time() - started, 1), "admission": stats,
                                   "contamination": decontamination})
    finally:
        if cfg.ray.address == "local":
            ray.shutdown()


__all__ = ["run", "start_ray", "JobError"]
