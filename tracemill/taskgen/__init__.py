"""Task validation: run tests before/after, derive FAIL_TO_PASS/PASS_TO_PASS, flag what a curator must see."""
