"""Repository environments: detect how to install a project and run its tests, build the venv once
per (repo, dependency-files hash) in the cache dir, and record a reproducible spec."""

from tracemill.envs.build import EnvSpec, cache_dir, check_clean_run, ensure_env, record_clean_run, summarize
from tracemill.envs.detect import InstallPlan, dependency_hash, detect

__all__ = ["EnvSpec", "InstallPlan", "cache_dir", "check_clean_run", "dependency_hash", "detect", "ensure_env",
           "record_clean_run", "summarize"]
