"""Config validation: one-line errors that name the key, before any Ray work."""

from __future__ import annotations

import subprocess

import pytest

from pipelines.config import ConfigError, check_local_paths, load_config
from tests.conftest import ARES, REPO


def test_local_config_loads_with_overrides():
    cfg = load_config("local", ["input.limit_per_file=3", "stages.synthesis.sampling.max_tokens=77"])
    assert cfg.input.limit_per_file == 3
    assert cfg.stages.synthesis.sampling.max_tokens == 77
    assert cfg.engines["default"].model.endswith("SmolLM2-135M-Instruct")


@pytest.mark.parametrize(
    "override, message",
    [
        ("stages.synthesis.max_tokenz=5", "invalid config: stages.synthesis.max_tokenz: unknown key"),
        ("bogus=1", "invalid config: bogus: unknown key"),
        ("ray.num_cpus=abc", "invalid config: ray.num_cpus: Input should be a valid integer"),
        ("engines.default.batch_size=0", "invalid config: engines.default.batch_size: Input should be greater"),
        ("stages.label.engine=nope", "stages.label.engine: unknown engine 'nope'"),
        ("engines.default.max_actors=0", "invalid config: engines.default.max_actors"),
        ("stages.admission.splits.train=0.5", "train + validation + test must sum to 1"),
        ("rubric.min_weight=1", "min_weight < 0 < max_weight"),
        ("output.on_existing=maybe", "invalid config: output.on_existing: Input should be"),
        ("engines.default.engine_kwargs.structured_outputs_config.backend=outlines",
         "engines.default: compact_json needs the xgrammar or guidance backend"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("local", [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_override_without_equals_sign():
    with pytest.raises(ConfigError, match="is not key=value"):
        load_config("local", ["input.path"])


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file not found: nowhere"):
        load_config("nowhere")


def test_missing_model_path_is_a_clear_error(tmp_path):
    cfg = load_config("local", [f"engines.default.model={tmp_path}/no-model"])
    with pytest.raises(ConfigError, match=r"engines.default.model: no model at .*no-model"):
        check_local_paths(cfg)


def test_hub_ids_are_refused():
    cfg = load_config("local", ["engines.default.model=hf://Qwen/Qwen3-4B"])
    with pytest.raises(ConfigError, match="must be a local folder"):
        check_local_paths(cfg)


def test_cli_exits_2_with_one_line_before_starting_ray():
    proc = subprocess.run(ARES + ["run", "local", "ray.num_cpus=two"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["ares: invalid config: ray.num_cpus: Input should be a valid integer,"
                                                " unable to parse string as an integer"]
    assert "Started a local Ray instance" not in proc.stdout + proc.stderr


def test_sampling_penalties_reach_vllm():
    """Repetition/frequency/presence penalties are config keys and arrive in vLLM's SamplingParams unchanged."""
    from operators.llm.client import LLMRequest, VLLMClient
    from operators.schemas import BinaryJudgement

    cfg = load_config("local", ["stages.synthesis.sampling.repetition_penalty=1.15",
                                "stages.synthesis.sampling.frequency_penalty=0.4"])
    sampling = cfg.stages.synthesis.sampling
    params = VLLMClient.sampling_params(LLMRequest(messages=[], output=BinaryJudgement, sampling=sampling), attempt=0)
    assert (params.repetition_penalty, params.frequency_penalty, params.presence_penalty) == (1.15, 0.4, 0.0)
    with pytest.raises(ConfigError, match="stages.synthesis.sampling.frequency_penalty"):
        load_config("local", ["stages.synthesis.sampling.frequency_penalty=3"])


def test_compact_json_engine_settings():
    """vLLM reads disable_any_whitespace from the engine's structured_outputs_config; the backend must support it."""
    from operators.llm.engine_config import compact_structured_outputs

    assert load_config("local").engines["default"].compact_json is True
    assert compact_structured_outputs(None) == {"backend": "xgrammar", "disable_any_whitespace": True}
    assert compact_structured_outputs({"backend": "guidance", "disable_additional_properties": True}) == {
        "backend": "guidance", "disable_additional_properties": True, "disable_any_whitespace": True}
    assert compact_structured_outputs({"backend": "auto"})["backend"] == "xgrammar"
