"""Stage contracts: each stage declares itself, and every way of switching stages off is either refused when the
config loads (one line) or valid and runs, every document and candidate decided."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from operators.output import OUTPUT_SCHEMA
from operators.read_documents import ROW_SCHEMA
from operators.templates import PROMPTS_DIR
from pipelines.ares import FLOW
from pipelines.config import ConfigError, load_config
from pipelines.runner import GroupRunner, group_stages
from tests.conftest import REPO, sample_records

SCRIPTED = "engines.default.client=tests.scripted_engine:ScriptedClient"
OPTIONAL = [s.name for s in FLOW if s.optional and s.switched_by is None]
REQUIRED = [s.name for s in FLOW if not s.optional]


def test_each_stage_is_one_module_one_config_key_and_its_templates():
    cfg = load_config("local")
    for stage in FLOW:
        assert (REPO / "operators" / "stages" / f"{stage.name}.py").is_file(), stage.name
        assert isinstance(getattr(cfg.stages, stage.name), stage.config), stage.name
        assert stage.switched_by is None or not hasattr(getattr(cfg.stages, stage.name), "enabled")
        for template in stage.templates:
            assert (PROMPTS_DIR / f"{template}.txt").is_file(), (stage.name, template)
        assert stage.llm or not stage.templates, stage.name
    assert [s.name for s in FLOW][0] == "ingest" and [s.name for s in FLOW][-1] == "admission"


@pytest.mark.parametrize("name", REQUIRED)
def test_a_required_stage_cannot_be_switched_off(name):
    with pytest.raises(ConfigError) as err:
        load_config("local", [f"stages.{name}.enabled=false"])
    msg = str(err.value)
    assert f"stages.{name}.enabled: the {name} stage cannot be disabled" in msg and "\n" not in msg


def test_a_stage_reading_what_no_enabled_stage_writes_is_refused():
    from types import SimpleNamespace

    from operators.stage import ChainError, StageConfig, check_chain, stage

    cfg = load_config("local")
    needs_flawed = stage("late", lambda docs, ctx: None, "reads the flawed answer", reads=["candidate.flawed_answer"])
    flow = FLOW + [needs_flawed]
    confs = SimpleNamespace(**{s.name: getattr(cfg.stages, s.name) for s in FLOW}, late=StageConfig())
    assert check_chain(flow, confs)[-1] is needs_flawed  # the discriminativeness stage writes what it reads
    confs.discriminativeness = confs.discriminativeness.model_copy(update={"enabled": False})
    with pytest.raises(ChainError, match=r"^stages.late: it reads candidate.flawed_answer, which no enabled stage "
                                         r"before it writes; stages.discriminativeness.enabled=false switched off"):
        check_chain(flow, confs)


def _rows(n: int) -> pa.Table:
    recs = sample_records(n)
    return pa.Table.from_pylist(
        [{"record_key": f"s#{i}", "doc_id": r["id"], "text": r["text"], "source": "s", "row": i, "error": None}
         for i, r in enumerate(recs, 1)], schema=ROW_SCHEMA)


def run_in_process(cfg, rows: pa.Table) -> list[dict]:
    """The pipeline's operators in order, in this process (no Ray), as the job chains them."""
    groups = group_stages(cfg.active_stages(), cfg)
    batch = rows
    for i, g in enumerate(groups):
        runner = GroupRunner(cfg.model_dump_json(), g.stages, first=i == 0, last=i == len(groups) - 1,
                             meta={"prompts_version": "v", "models": "{}", "run_name": "t"}, admission_name=None,
                             namespace=None)
        batch = runner(batch)
    assert batch.schema == OUTPUT_SCHEMA
    return batch.to_pylist()


def test_every_combination_of_optional_stages_runs_and_decides_everything():
    rows = _rows(3)
    combos = 0
    for k in range(len(OPTIONAL) + 1):
        for off in itertools.combinations(OPTIONAL, k):
            cfg = load_config("local", [SCRIPTED] + [f"stages.{n}.enabled=false" for n in off])
            out = run_in_process(cfg, rows)
            allowed = {"read", "pipeline"} | {v for s in cfg.active_stages() for v in s.verdict_names}
            assert {r["record_key"] for r in out} == {f"s#{i}" for i in (1, 2, 3)}, off
            for r in out:
                assert not r["errored"], (off, r["reject_reason"])
                assert r["status"] in ("accepted", "rejected"), off
                if r["status"] == "rejected":
                    assert r["reject_stage"] in allowed and r["reject_reason"], (off, r["reject_stage"])
                for v in r["verdicts"] + r["document_verdicts"]:
                    assert v["stage"] in allowed, (off, v["stage"])
            # the scripted engine writes passing candidates: each enabled check let them through
            assert sum(r["status"] == "accepted" for r in out) == 6, (off, [r["reject_reason"] for r in out])
            combos += 1
    assert combos == 2 ** len(OPTIONAL)
