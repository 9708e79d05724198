import os
import sys

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, os.path.dirname(__file__))

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """Tests never touch the user's cache: the example set and caches go to a temp folder."""
    old = os.environ.get("UNDOUBLE_CACHE_DIR")
    os.environ["UNDOUBLE_CACHE_DIR"] = str(tmp_path_factory.mktemp("undouble-cache"))
    yield
    if old is None:
        os.environ.pop("UNDOUBLE_CACHE_DIR", None)
    else:
        os.environ["UNDOUBLE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def example_paths(_private_cache_dir):
    """Paths of the generated example set (generated once per test session)."""
    from undouble.examples import import_example

    return import_example("synthetic")


@pytest.fixture(scope="session")
def example_manifest(example_paths):
    from undouble.examples import synthetic_manifest

    return synthetic_manifest()
