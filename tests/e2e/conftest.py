"""Shared fixtures for the end-to-end suite: paths to the real binaries under test."""
import os
import pathlib

import pytest

BIN_DIR = pathlib.Path(os.environ.get("REXEC_BIN_DIR", "zig-out/bin")).resolve()


@pytest.fixture(scope="session")
def rexec_bin():
    path = BIN_DIR / "rexec"
    assert path.is_file(), f"{path} missing: run packaging/zig build first"
    return str(path)


@pytest.fixture(scope="session")
def agent_bin():
    path = BIN_DIR / "rexec-agent"
    assert path.is_file(), f"{path} missing: run packaging/zig build first"
    return str(path)
