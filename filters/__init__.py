"""Filters: small pure functions that measure a signal, compare it with a configured limit and say why."""
