"""Load a config: a YAML file (a name in conf/ or a path) with `key=value` overrides over the models' defaults.

Validation happens before any Ray work starts, so that a typo costs a second, not a cluster job. Every model forbids
unknown keys; the first validation error becomes one line naming the dotted key.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from pipelines.config.models import Config, ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"invalid config: {key + ': ' if key else ''}{msg}{more}"


def resolve_config_path(name: str) -> Path:
    """`local` means conf/local.yaml; anything else is a path."""
    path = Path(name)
    if not path.suffix and (CONF_DIR / f"{name}.yaml").exists():
        path = CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONF_DIR.glob("*.yaml")))
        raise ConfigError(f"config file not found: {name} (built-in configs: {known})")
    return path


def _layers(path: Path, seen: tuple[Path, ...] = ()) -> list:
    """The file's values over those of the config it `extends` (a built-in name or a path beside it)."""
    if path.resolve() in seen:
        raise ConfigError(f"config {path}: extends itself (through {' -> '.join(p.name for p in seen)})")
    node = OmegaConf.load(path)
    parent = node.pop("extends", None) if isinstance(node, DictConfig) else None
    if parent is None:
        return [node]
    beside = path.parent / str(parent)
    parent_path = beside if beside.is_file() else resolve_config_path(str(parent))
    return _layers(parent_path, seen + (path.resolve(),)) + [node]


def load_config(name: str, overrides: list[str] | None = None) -> Config:
    """The named config with `key=value` overrides applied, validated."""
    path = resolve_config_path(name)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
    try:
        merged = OmegaConf.merge(*_layers(path), OmegaConf.from_dotlist(list(overrides or [])))
        raw = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid config: {str(exc).splitlines()[0]}") from None
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    return absolutize(cfg)


def _abs(path: str | None) -> str | None:
    if path is None or "://" in path or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def absolutize(cfg: Config) -> Config:
    """Relative local paths are taken from the current directory, once, so Ray workers see the same files."""
    cfg.input.path = _abs(cfg.input.path)
    cfg.output.path = _abs(cfg.output.path)
    cfg.output.checkpoint_path = _abs(cfg.output.checkpoint_path)
    cfg.prompts_dir = _abs(cfg.prompts_dir)
    cfg.stages.label.persona_file = _abs(cfg.stages.label.persona_file)
    cfg.stages.contamination.eval_files = [_abs(p) for p in cfg.stages.contamination.eval_files]
    for engine in cfg.engines.values():
        engine.model = _abs(engine.model)
    return cfg


def check_local_paths(cfg: Config) -> None:
    """Errors a config can be checked for on the submitting machine: model folders and files that do not exist."""
    for name, engine in cfg.engines.items():
        if "://" in engine.model:
            raise ConfigError(f"engines.{name}.model: {engine.model!r} must be a local folder (no hub downloads)")
        if not (Path(engine.model) / "config.json").exists():
            raise ConfigError(
                f"engines.{name}.model: no model at {engine.model!r} (a folder with config.json is expected;"
                " `ares prepare-model` prepares the local tiny model)"
            )
    persona_file = cfg.stages.label.persona_file
    if persona_file and "://" not in persona_file and not os.path.exists(persona_file):
        raise ConfigError(f"stages.label.persona_file: file not found: {persona_file}")
