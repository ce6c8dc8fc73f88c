"""Waiting for a running build to get somewhere, for tests that interrupt one mid-way."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path


def wait_for_outcomes(work: Path, n: int, timeout: float, proc: subprocess.Popen | None = None) -> int:
    """Wait until the work stores under ``work`` hold ``n`` written outcomes (``*.ok.json``); returns
    how many they hold. A build that writes fewer within ``timeout`` (or whose ``proc`` ends first)
    fails the test: an interrupt sent to a build that made no progress must not pass for one sent
    mid-way (a --num-proc build once hung in its workers, and the Ctrl-C test passed after its deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        done = len(list(work.rglob("*.ok.json")))
        if done >= n:
            return done
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the build ended (exit {proc.returncode}) after {done} of the {n} outcomes waited for")
        if time.monotonic() > deadline:
            raise AssertionError(f"the build wrote {done} of {n} outcomes in {timeout:.0f} s: it makes no progress")
        time.sleep(0.1)
