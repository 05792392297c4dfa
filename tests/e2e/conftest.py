"""End-to-end suites use the shared `hub` fixture of tests/conftest.py."""
