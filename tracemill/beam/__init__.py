"""Beam composites; the logic they run lives in plain functions elsewhere in tracemill."""
