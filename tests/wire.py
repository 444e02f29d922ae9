"""Deprecated: import these from :mod:`support` (tests/support/), their one home.

Kept, re-exporting, until the test files that other branches own are switched
(test_aio.py, test_client.py, test_server.py, test_transcript.py); then delete it.
"""

from __future__ import annotations

from support import (
    WAIT,
    connect,
    converse,
    nothing_arrives,
    read_exactly,
    read_until_eof,
    wait_until,
)

__all__ = [
    "WAIT",
    "connect",
    "converse",
    "nothing_arrives",
    "read_exactly",
    "read_until_eof",
    "wait_until",
]
