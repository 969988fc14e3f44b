"""Pipelines: composition only. Each module reads like a table of contents; worker code lives in tracemill."""
