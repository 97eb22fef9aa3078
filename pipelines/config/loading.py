"""Load a config: a YAML file (a built-in name or a path) with `key=value` overrides over the models' defaults.

Relative paths are anchored where they were written: a path inside a config file is relative to that file's folder
(a built-in config's, to the package's own `conf/`, so `../data/sample/...` is the bundled sample), a path given on
the command line is relative to the current folder. `${ares.cwd:}` and `${ares.tiny_model:}` in a YAML file name the
current folder and the tiny model's cache folder (`pipelines/locations.py`).

Validation happens before any Ray work starts, so that a typo costs a second, not a cluster job. Every model forbids
unknown keys; the first validation error becomes one line naming the dotted key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from pipelines import locations
from pipelines.config.models import Config, ConfigError

# Every key that holds a local path (`*` is any engine name). A new path key must be listed here to be anchored.
PATH_KEYS = ("input.path", "output.path", "output.checkpoint_path", "prompts_dir", "stages.label.persona_file",
             "stages.contamination.eval_files", "engines.*.model")

if not OmegaConf.has_resolver("ares.cwd"):
    OmegaConf.register_resolver("ares.cwd", lambda: os.getcwd())
if not OmegaConf.has_resolver("ares.tiny_model"):
    OmegaConf.register_resolver("ares.tiny_model", lambda: str(locations.tiny_model_dir()))


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


def builtin_configs() -> list[str]:
    return sorted(p.stem for p in locations.conf_dir().glob("*.yaml"))


def resolve_config_path(name: str) -> Path:
    """A built-in name (`local`, `cluster`) means the packaged conf/<name>.yaml; anything else is a path."""
    path = Path(name)
    if not path.suffix and name in builtin_configs():
        return locations.conf_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"config file not found: {name} (built-in configs: {', '.join(builtin_configs())})")
    return path.resolve()


def _anchored(value: Any, base: str) -> Any:
    """A relative local path joined to `base`; URLs, absolute paths and interpolations stay as they are."""
    if isinstance(value, list):
        return [_anchored(v, base) for v in value]
    if not isinstance(value, str) or "://" in value or "${" in value:
        return value
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def _anchor(node: Any, parts: list[str], base: str) -> None:
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    for key in (list(node) if head == "*" else [head]):
        if key not in node:
            continue
        if rest:
            _anchor(node[key], rest, base)
        else:
            node[key] = _anchored(node[key], base)


def _anchor_all(raw: Any, base: str) -> Any:
    for key in PATH_KEYS:
        _anchor(raw, key.split("."), base)
    return raw


def _layers(path: Path, seen: tuple[Path, ...] = ()) -> list[dict]:
    """The file's values, paths anchored at its folder, over those of the config it `extends` (a built-in name or a
    file beside it), whose paths are anchored at its own folder."""
    if path.resolve() in seen:
        raise ConfigError(f"config {path}: extends itself (through {' -> '.join(p.name for p in seen)})")
    node = OmegaConf.load(path)
    parent = node.pop("extends", None) if isinstance(node, DictConfig) else None
    layer = _anchor_all(OmegaConf.to_container(node, resolve=False), str(path.parent))
    if parent is None:
        return [layer]
    beside = path.parent / str(parent)
    parent_path = beside if beside.is_file() else resolve_config_path(str(parent))
    return _layers(parent_path, seen + (path.resolve(),)) + [layer]


def load_config(name: str, overrides: list[str] | None = None) -> Config:
    """The named config with `key=value` overrides applied, validated; every local path absolute (made once, here,
    so that Ray workers see the same files)."""
    path = resolve_config_path(name)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
    cwd = os.getcwd()
    try:
        from_files = [OmegaConf.create(layer) for layer in _layers(path)]
        from_cli = _anchor_all(OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides or [])), resolve=False),
                               cwd)
        merged = OmegaConf.merge(*from_files, OmegaConf.create(from_cli))
        # a path an interpolation made, if still relative, is taken from the current folder
        raw = _anchor_all(OmegaConf.to_container(merged, resolve=True), cwd)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid config: {str(exc).splitlines()[0]}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


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
