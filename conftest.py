"""Fixtures shared by tests/ and the dataset folders' tests."""
from __future__ import annotations

import pytest

from artface.testing.http_server import FixtureServer


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    """Each test gets its own artface cache (fetch cache + work store) and datasets cache."""
    monkeypatch.setenv("ARTFACE_CACHE", str(tmp_path / "artface-cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    # the tests' servers are on 127.0.0.1, which artface refuses for metadata URLs by default
    monkeypatch.setenv("ARTFACE_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("ARTFACE_OUT", str(tmp_path / "artface-out"))  # builds never land in the checkout


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 (see artface.testing.http_server)."""
    server = FixtureServer().start()
    yield server
    server.stop()
