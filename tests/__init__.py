"""Test suite of drf-defender; settings module ``tests.settings``."""
