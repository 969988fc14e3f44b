"""Pure predicates over records: (record, limits) -> Rejection | None, grouped by record kind."""
