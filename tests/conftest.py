"""Shared pytest configuration: the pytester plugin for end-to-end plugin tests, and a private
on-disk null cache for the session (tests never read or write the user's cache folder)."""

import os
import tempfile

pytest_plugins = ["pytester"]

os.environ.setdefault("SAMPLERLAB_CACHE", tempfile.mkdtemp(prefix="samplerlab-test-cache-"))
