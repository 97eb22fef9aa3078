"""The job's configuration: models (`models.py`) and loading, merging and path anchoring (`loading.py`)."""

from pipelines.config.loading import builtin_configs, check_local_paths, load_config
from pipelines.config.models import Config, ConfigError, InputConfig, OutputConfig, RayConfig, StorageConfig

__all__ = ["Config", "ConfigError", "InputConfig", "OutputConfig", "RayConfig", "StorageConfig", "builtin_configs",
           "check_local_paths", "load_config"]
