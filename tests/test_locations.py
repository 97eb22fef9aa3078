"""Where paths point: a config file's relative paths from its own folder, command-line ones from the current folder,
the built-in configs and sample from the checkout in an editable install (a wheel's copy: test_wheel_install.py)."""

from __future__ import annotations

from pathlib import Path

from pipelines import locations
from pipelines.config import load_config
from tests.conftest import REPO, SAMPLE


def test_editable_install_reads_the_checkouts_conf_and_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anywhere but the repository
    assert locations.is_checkout() and locations.builtin_root() == REPO
    cfg = load_config("local")
    assert cfg.input.path == str(SAMPLE)  # `../data/sample/...` from conf/, not from the current folder
    assert cfg.output.path == str(tmp_path / "outputs" / "local")  # ${ares.cwd:}
    assert cfg.engines["default"].model == str(REPO / ".cache" / "models" / "SmolLM2-135M-Instruct")


def test_paths_in_a_file_are_relative_to_the_file_and_overrides_to_the_current_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    (project / "conf" / "mine.yaml").write_text(
        "input: {path: ../docs/*.jsonl}\noutput: {path: out}\n"
        "engines: {default: {model: ~/models/m}}\n"
        "stages: {label: {persona_file: personas.jsonl}, contamination: {eval_files: [a.jsonl, s3://b/e.jsonl]}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(str(project / "conf" / "mine.yaml"))
    assert cfg.input.path == str(project / "docs" / "*.jsonl")
    assert cfg.output.path == str(project / "conf" / "out")
    assert cfg.engines["default"].model == str(Path.home() / "models" / "m")
    assert cfg.stages.label.persona_file == str(project / "conf" / "personas.jsonl")
    assert cfg.stages.contamination.eval_files == [str(project / "conf" / "a.jsonl"), "s3://b/e.jsonl"]
    cfg = load_config("../project/conf/mine.yaml", ["output.path=results", "engines.default.model=m2"])
    assert cfg.output.path == str(elsewhere / "results") and cfg.engines["default"].model == str(elsewhere / "m2")
    assert cfg.input.path == str(project / "docs" / "*.jsonl")


def test_tiny_model_folder_can_be_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ARES_TINY_MODEL_DIR", str(tmp_path / "tiny"))
    assert load_config("local").engines["default"].model == str(tmp_path / "tiny")
