"""Every command answers --help, and bad arguments are one line on stderr with exit code 2."""

from __future__ import annotations

import pytest

from pipelines.cli import build_parser, main

COMMANDS = ["run", "score", "submit", "status", "logs", "config", "prepare-model", "report", "inspect", "export",
            "serve-judge", "serve-reward", "plan"]


def test_every_command_is_listed():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: ares {command}")


@pytest.mark.parametrize("argv, message", [
    (["report"], "ares report: error: the following arguments are required: OUTPUT"),
    (["inspect", "out", "--n", "-3"], "ares inspect: error: argument --n: must be >= 1, got -3"),
    (["export", "out", "--format", "csv"], "ares export: error: argument --format: invalid choice: 'csv'"),
    (["serve-judge", "local", "--port", "99999"], "ares serve-judge: error: argument --port: not a port: 99999"),
    (["serve-reward", "--timeout", "0"], "ares serve-reward: error: argument --timeout: must be > 0, got 0"),
    (["run", "local", "--progress-every", "soon"], "ares run: error: argument --progress-every: not a number"),
    (["frobnicate"], "ares: error: argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


def test_values_that_name_nothing_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith(f"ares inspect: no ARES output at {tmp_path / 'missing'}")
    monkeypatch.delenv("ARES_JUDGE_URL", raising=False)
    assert main(["serve-reward"]) == 2
    assert capsys.readouterr().err.startswith("ares serve-reward: no judge endpoint: set ARES_JUDGE_URL")
    assert main(["serve-judge", "local", "--engine", "nope"]) == 2
    assert capsys.readouterr().err.startswith("ares: --engine: unknown engine 'nope'")
