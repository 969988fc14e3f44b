"""tracemill: curation pipelines for execution-aware code-model training data."""

__version__ = "0.1.0"
