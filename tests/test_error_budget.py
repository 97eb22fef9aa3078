"""The error budget: an admission service that refuses more errors fails the Ray Data job, and the driver learns
why from the service (Ray Data re-raises a map's error without its cause), on real Ray Data."""

from __future__ import annotations

import pytest
import ray

from operators.services.admission import AdmissionActor, AdmissionClient, DedupConfig, QuotaConfig
from pipelines import admission_service


@pytest.fixture(scope="module")
def ray_local():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="budget")
    yield
    ray.shutdown()


def test_spent_budget_is_known_to_the_driver(ray_local):
    actor = AdmissionActor.options(name="budget-test", namespace="budget").remote(QuotaConfig(), DedupConfig(), 0.1)
    assert admission_service.spent_budget(actor) is None

    def report_all_errored(batch):
        n = len(batch["id"])
        AdmissionClient(ray.get_actor("budget-test", namespace="budget")).report_documents(n, n)
        return batch

    ds = ray.data.range(40, override_num_blocks=2).map_batches(report_all_errored, batch_size=20)
    with pytest.raises(Exception) as err:
        ds.materialize()
    assert "TooManyErrors" not in type(err.value).__name__  # what the driver sees is Ray Data's wrapper
    assert admission_service.spent_budget(actor) == (
        "20 of 20 documents raised errors (100% > ray.max_errored_fraction=0.1); aborting the job")
