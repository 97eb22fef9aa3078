"""The admission service of one job: the named actor, seeded from the committed output, with its journal.

One actor per output (two jobs writing to different places never share quotas or a duplicate index). A new attempt
starts from the committed output alone: rows a killed attempt had admitted were lost with it, so its journal goes.
Within an attempt, the actor journals each decision before it answers, beside the checkpoint.
"""

from __future__ import annotations

import hashlib

from operators import storage
from operators.services.admission import AdmissionActor, actor_name
from operators.services.journal import Journal
from pipelines.config import Config
from pipelines.preflight import JobError
from pipelines.summary import committed_state

NAMESPACE = "ares"


def journal_for(cfg: Config) -> Journal:
    """This attempt's admission journal, beside the checkpoint (scratch, like it; not part of the output)."""
    path = cfg.checkpoint_path.rstrip("/") + ".admission"
    return Journal(storage.fsspec_filesystem(path, cfg.storage), storage.strip_scheme(path))


def start(cfg: Config):
    """(actor handle, actor name) of this job's admission service, fresh for this attempt."""
    adm = cfg.stages.admission
    name = actor_name(f"{cfg.run_name}-{hashlib.sha256(cfg.output.path.encode()).hexdigest()[:10]}")
    cfg_json = cfg.model_dump_json()

    # Run inside the actor, at start and again whenever Ray restarts it: they rebuild its state.
    def seed_from():
        return committed_state(Config.model_validate_json(cfg_json))

    def journal():
        return journal_for(Config.model_validate_json(cfg_json))

    import ray

    try:
        journal_for(cfg).clear()
    except Exception as exc:
        raise JobError(f"admission journal {cfg.checkpoint_path}.admission: cannot clear it: {exc}") from None
    actor = AdmissionActor.options(name=name, namespace=NAMESPACE, get_if_exists=True,
                                   resources=dict(cfg.ray.admission_resources) or None).remote(
        adm.quota, adm.dedup, cfg.ray.max_errored_fraction, seed_from=seed_from, journal=journal,
    )
    problem = ray.get(actor.health.remote())
    if problem is not None:  # e.g. the committed output could not be read: never start from a forgotten state
        ray.kill(actor)
        raise JobError(f"output {cfg.output.path}: {problem}")
    return actor, name


def spent_budget(actor) -> str | None:
    """Why the service stopped the job (its error budget is spent), or None."""
    import ray

    return ray.get(actor.spent_budget.remote())


def stop(cfg: Config, actor) -> dict:
    """The service's final counts; the actor and this attempt's journal go."""
    import ray

    stats = ray.get(actor.stats.remote())
    ray.kill(actor)
    journal_for(cfg).clear()
    return stats
