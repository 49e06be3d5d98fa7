"""Fixtures shared by the browser test modules: the module-scoped Chromium of test_browser."""

from test_browser import browser  # noqa: F401
