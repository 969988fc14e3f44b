import pytest

from tracemill.errors import RecordError
from tracemill.verify.patches import changed_line_count, is_test_path, split_patch, touched_files

PATCH = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,2 +1,2 @@
-x = 1
+x = 2
 y = 3
diff --git a/tests/test_mod.py b/tests/test_mod.py
--- a/tests/test_mod.py
+++ b/tests/test_mod.py
@@ -1 +1,2 @@
 def test_x(): pass
+def test_y(): pass
diff --git a/conftest.py b/conftest.py
new file mode 100644
--- /dev/null
+++ b/conftest.py
@@ -0,0 +1 @@
+import pytest
"""


def test_touched_files():
    assert touched_files(PATCH) == ["conftest.py", "pkg/mod.py", "tests/test_mod.py"]


def test_split_into_code_and_tests():
    code, tests = split_patch(PATCH)
    assert touched_files(code) == ["pkg/mod.py"]
    assert touched_files(tests) == ["conftest.py", "tests/test_mod.py"]


@pytest.mark.parametrize("path,expected", [
    ("tests/test_x.py", True), ("pkg/tests/helpers.py", True), ("test_x.py", True), ("x_test.py", True),
    ("conftest.py", True), ("sub/conftest.py", True), ("tox.ini", True), ("pkg/testing.py", False),
    ("pkg/contest.py", False), ("src/pkg/mod.py", False),
])
def test_is_test_path(path, expected):
    assert is_test_path(path) is expected


def test_changed_line_count():
    assert changed_line_count(PATCH) == 4


def test_unparseable_diff_is_a_record_error():
    with pytest.raises(RecordError):
        touched_files("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n-only one line\n")
