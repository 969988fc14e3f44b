"""Python execution traces in CWM's format: the sandboxed tracer, bounded reprs, the text
rendering, candidate sources (snippets, a repository's test suite) and training-example builders.

Flow: candidates (`snippets`, or `repo` + `repo_plugin`) -> `runner.trace_items` (the sandboxed
`tracer`, one forked child per item) -> `record.trace_record` (structured record + `cwm.render`) ->
validate -> exact and MinHash dedup -> `examples` (sft_example records) -> `output`. Beam
composites live in `transforms`; `pipelines/traces.py` composes them.
"""
