"""Near-duplicate detection and decontamination: the plain functions behind the Beam dedup stages.

Flow: `shingles` (token n-grams) -> `signatures` (MinHash, datasketch-equivalent, vectorised) ->
`bands` (LSH bucket keys) -> candidate pairs -> `similarity` (verification) -> `components`
(keeper = smallest id). `decontamination` matches records against evaluation sets.
The Beam composites live in `tracemill.beam.dedup`.
"""
