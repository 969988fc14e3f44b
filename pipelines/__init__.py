"""Beam pipelines: composition only; worker code lives in tracemill/."""
