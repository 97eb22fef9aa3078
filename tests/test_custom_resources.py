"""Custom Ray resources from config: an engine pool or the admission actor can be kept on chosen nodes, and an ask
no node can meet is refused at start-up like any other unschedulable ask, instead of waiting forever."""

from __future__ import annotations

import pytest

from pipelines.config import load_config
from pipelines.resources import ResourceError, check_schedulable, engine_map_args
from pipelines.runner import engine_pools, group_stages

HEAD = {"CPU": 2.0}
ENGINE_NODE = {"CPU": 1.0, "ares_engine": 1.0}


def pools(cfg):
    return engine_pools(group_stages(cfg.active_stages(), cfg))


def test_engine_resources_reach_map_batches():
    cfg = load_config("local", ["engines.default.resources={ares_engine: 1}"])
    assert engine_map_args(cfg.engines["default"], cfg.ray)["resources"] == {"ares_engine": 1.0}
    assert engine_map_args(load_config("local").engines["default"], cfg.ray)["resources"] is None


def test_pool_fits_only_where_its_resource_is():
    cfg = load_config("local", ["engines.default.resources={ares_engine: 1}"])
    check_schedulable(cfg, pools(cfg), [HEAD, ENGINE_NODE])
    with pytest.raises(ResourceError, match=r"asks \{'CPU': 1.0, 'GPU': 0.0, 'ares_engine': 1.0\} per actor"):
        check_schedulable(cfg, pools(cfg), [HEAD])


def test_minimum_actors_count_custom_resources():
    cfg = load_config("local", ["engines.default.resources={ares_engine: 1}", "engines.default.min_actors=2",
                                "engines.default.max_actors=2"])
    with pytest.raises(ResourceError, match="ask 2 ares_engine in all; the cluster has 1 ares_engine"):
        check_schedulable(cfg, pools(cfg), [HEAD, {"CPU": 4.0, "ares_engine": 1.0}])


def test_admission_resources_must_exist_somewhere():
    cfg = load_config("local", ["ray.admission_resources={ares_admission: 1}"])
    check_schedulable(cfg, pools(cfg), [HEAD, {"CPU": 0.0, "ares_admission": 1.0}])
    with pytest.raises(ResourceError, match=r"the admission actor asks \{'ares_admission': 1.0\}"):
        check_schedulable(cfg, pools(cfg), [HEAD])
    autoscaled = load_config("local", ["ray.admission_resources={ares_admission: 1}", "ray.expect_autoscaling=true"])
    check_schedulable(autoscaled, pools(autoscaled), [HEAD])
