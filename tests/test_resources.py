"""Start-up schedulability: a stage that cannot be placed is an error naming it, never a hang."""

from __future__ import annotations

import pytest

from pipelines.config import load_config
from pipelines.resources import ResourceError, check_schedulable
from pipelines.runner import engine_pools, group_stages

CPU_NODE = [{"CPU": 2.0}]


def groups(cfg):
    return group_stages(cfg.active_stages(), cfg)


def pools(cfg):
    return engine_pools(groups(cfg))


def test_local_config_fits_two_cpus():
    cfg = load_config("local")
    check_schedulable(cfg, pools(cfg), CPU_NODE)


def test_gpu_ask_on_cpu_only_cluster_names_the_stage():
    cfg = load_config("local", ["engines.default.num_gpus=1"])
    with pytest.raises(ResourceError) as err:
        check_schedulable(cfg, pools(cfg), CPU_NODE)
    msg = str(err.value)
    assert "engine 'default'" in msg and "'GPU': 1.0" in msg and "synthesis" in msg


def test_too_many_minimum_actors():
    cfg = load_config("local", ["engines.default.min_actors=2", "engines.default.max_actors=2",
                                "engines.default.num_cpus=1"])
    with pytest.raises(ResourceError, match="ask 2.5 CPU in all; the cluster has 2 CPU"):
        check_schedulable(cfg, pools(cfg), CPU_NODE)


def test_autoscaling_cluster_may_ask_for_more():
    cfg = load_config("local", ["engines.default.num_gpus=1", "ray.expect_autoscaling=true"])
    check_schedulable(cfg, pools(cfg), CPU_NODE)


def test_stages_on_two_engines_form_two_pools():
    cfg = load_config("local", ["engines.judge.model=m", "engines.judge.num_cpus=0.5",
                                 "stages.faithfulness.engine=judge"])
    names = [(g.engine, [s.name for s in g.stages]) for g in groups(cfg)]
    assert names[0] == (None, ["ingest", "document_filter", "chunking"])
    assert names[1][0] == "default" and names[1][1][-1] == "self_containment"
    assert names[2] == ("judge", ["faithfulness"])
    assert names[3][0] == "default" and names[3][1][-1] == "admission"
