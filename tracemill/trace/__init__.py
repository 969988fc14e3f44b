"""Python execution traces in CWM's format: the sandboxed tracer, bounded reprs, the text
rendering, candidate sources (snippets, a repository's test suite) and training-example builders.

Flow: candidates -> `runner.trace_items` (sandboxed `tracer`) -> `records.trace_record`
(structured record + `cwm.render`) -> validate -> dedup -> `examples` (sft_example records).
"""
