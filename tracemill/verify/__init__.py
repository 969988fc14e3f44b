"""Verification: run a repository's tests in the sandbox and grade patches SWE-bench style."""
