"""Test doubles that ship with tracemill so tests, benchmarks and users can exercise the live paths
(an OpenAI-compatible server with a scripted policy) without a model."""
