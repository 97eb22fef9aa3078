"""The job's configuration: models (`models.py`) and loading, merging and path checks (`loading.py`)."""

from pipelines.config.loading import CONF_DIR, REPO_ROOT, check_local_paths, load_config
from pipelines.config.models import Config, ConfigError, InputConfig, OutputConfig, RayConfig, StorageConfig

__all__ = ["CONF_DIR", "REPO_ROOT", "Config", "ConfigError", "InputConfig", "OutputConfig", "RayConfig",
           "StorageConfig", "check_local_paths", "load_config"]
