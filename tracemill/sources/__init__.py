"""Sources of candidate records: git history, mutations."""
