"""Intake throughput of `mesa serve` under wrk, and how long its acknowledgements take after
a burst, with the raw rate of one-row durable SQLite commits on the same disk for reference.

usage: serve_load.py MESA_BINARY OUT.json [BASELINE_BINARY]

Each run starts `mesa serve` on a fresh data directory (SQLite, maildir outbox). Every
request is a distinct customer submission (bench/intake.lua). With BASELINE_BINARY the same
intake runs on that build too, side by side.
"""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

CONNECTIONS = (1, 8, 32)
SECONDS = int(os.environ.get("MESA_BENCH_INTAKE_SECONDS", "10"))
BURST_SECONDS = int(os.environ.get("MESA_BENCH_BURST_SECONDS", "60"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    def __init__(self, binary):
        self.data = tempfile.mkdtemp(prefix="mesa-bench-")
        self.port = free_port()
        # The shell's own MESA_* settings (a team address, an on-call pager, a mailbox)
        # would add mail and work the figures do not count.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESA_")}
        env.update(MESA_SUBMISSIONS_PER_MINUTE="0", RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--addr", f"127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mesa serve did not start")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def acknowledgements(self):
        return len(os.listdir(os.path.join(self.data, "outbox", "new")))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.data, ignore_errors=True)


def wrk(url, connections, seconds):
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", "bench/intake.lua", url],
        check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    result = json.loads(line[5:])
    if result["other"] or result["errors"]:
        raise SystemExit(f"intake answered other than 201: {result}")
    return result


def raw_commits(seconds=3.0):
    """One-row durable commits (WAL, synchronous=FULL), one at a time: what one ticket per
    transaction could at best reach on this disk."""
    folder = tempfile.mkdtemp(prefix="mesa-raw-")
    try:
        db = sqlite3.connect(os.path.join(folder, "raw.sqlite"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        row = "x" * 1500  # about one ticket's JSON
        n, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (data) VALUES (?)", (row,))
            db.execute("COMMIT")
            n += 1
        return n / (time.perf_counter() - began)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def intake(binary):
    rows = []
    for c in CONNECTIONS:
        serve = Serve(binary)
        try:
            r = wrk(serve.url(), c, SECONDS)
            rows.append({"connections": c, "per_second": r["per_second"],
                         "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "created": r["created"]})
        finally:
            serve.stop()
    return rows


def drain(binary):
    """A burst at 32 connections for BURST_SECONDS, then the time until every ticket's
    acknowledgement is written out."""
    serve = Serve(binary)
    try:
        began = time.perf_counter()
        r = wrk(serve.url(), 32, BURST_SECONDS)
        burst_end = time.perf_counter()
        at_end = serve.acknowledgements()
        while serve.acknowledgements() < r["created"]:
            if time.perf_counter() - burst_end > 1800:
                raise SystemExit("acknowledgements still missing 30 minutes after the burst")
            time.sleep(0.2)
        done = time.perf_counter()
        return {
            "burst_seconds": BURST_SECONDS,
            "tickets": r["created"],
            "intake_per_second": r["per_second"],
            "acknowledged_by_burst_end": at_end,
            "seconds_after_burst_to_last_ack": done - burst_end,
            # No ticket is older than the burst, so this bounds every ticket's wait.
            "longest_ack_wait_at_most_seconds": done - began,
        }
    finally:
        serve.stop()


def main():
    binary, out = sys.argv[1], sys.argv[2]
    baseline = sys.argv[3] if len(sys.argv) > 3 else None
    result = {"raw_one_row_commits_per_second": raw_commits(), "intake": intake(binary)}
    if baseline:
        result["baseline_intake"] = intake(baseline)
    result["drain"] = drain(binary)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
