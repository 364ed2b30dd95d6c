"""Loaded by Python at start-up when this directory is on PYTHONPATH (tests/test_sharding_ready.py and the
FINBUDDY_TEST_RECORD_SQL mode of tests/conftest.py put it there for the finbuddy processes they start): records
every statement the process sends to PostgreSQL into the directory FINBUDDY_TEST_RECORD_SQL names."""

import os

if os.environ.get("FINBUDDY_TEST_RECORD_SQL"):
    from pathlib import Path

    from tests.sharding_check import RECORD_ENV, Recorder

    Recorder(stream_to=Path(os.environ[RECORD_ENV])).install()
