"""The ``slow`` marker of the deploy tests: an AOTInductor compile (minutes on a loaded 2-core
machine). The test command runs them; deselect them with ``-m "not slow"`` for a quick pass."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: compiles a model ahead of time (minutes); -m 'not slow' skips it")
