"""Shared pytest configuration: the pytester plugin for end-to-end plugin tests."""

pytest_plugins = ["pytester"]
