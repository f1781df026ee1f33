#!/usr/bin/env python3
"""Benchmark (not a test): `snapshot` then `status --details=all` on a generated 5,000-node cluster.

Prints wall time and peak resident memory of each command and of the pair, over several runs, and
the size of the object against its budget. Targets (issue 3): the pair under 0.25 s and 70 MiB.

    python3 bench/snapshot_status.py [--nodes 5000] [--runs 7] [--format yaml|json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "update-status-controller")


def run(args, stdout):
    """Runs a command, returning (seconds, peak RSS in MiB) from the kernel's own accounting."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed: {err}")
    return elapsed, usage.ru_maxrss / 1024.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--operators", type=int, default=60)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--format", choices=["yaml", "json"], default="yaml", help="the object format between the two commands")
    a = p.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "--bin", "update-status-controller", "--example", "gen_cluster"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="usc-bench-")
    subprocess.run([os.path.join(ROOT, "target", "release", "examples", "gen_cluster"), "--out", work,
                    "--nodes", str(a.nodes), "--operators", str(a.operators)], check=True)
    cv = os.path.join(work, "synthetic-cv.yaml")
    obj = os.path.join(work, f"object.{a.format}")

    snap, stat, pair, rss = [], [], [], []
    for _ in range(a.runs):
        with open(obj, "wb") as out:
            t1, m1 = run([BIN, "snapshot", cv, "--output", a.format], out)
        with open(os.devnull, "wb") as out:
            t2, m2 = run([BIN, "status", "--file", obj, "--details=all"], out)
        snap.append(t1)
        stat.append(t2)
        pair.append(t1 + t2)
        rss.append(max(m1, m2))

    size = os.path.getsize(obj)
    with open(obj) as f:
        text = f.read()
    doc = json.loads(text) if a.format == "json" else None
    json_size = len(json.dumps((doc or {}).get("status", {}), separators=(",", ":"))) if doc else None

    def fmt(xs):
        return f"min {min(xs) * 1000:.0f} ms, median {statistics.median(xs) * 1000:.0f} ms"

    print(f"cluster: {a.nodes} nodes, {a.operators} operators; object format {a.format}; {a.runs} runs")
    print(f"snapshot:        {fmt(snap)}")
    print(f"status --details=all: {fmt(stat)}")
    print(f"pair:            {fmt(pair)}   (target < 250 ms)")
    print(f"peak RSS:        {max(rss):.1f} MiB   (target < 70 MiB)")
    print(f"object:          {size} bytes on disk" + (f", status {json_size} bytes of JSON (the budget counts the stored object, managedFields included)" if json_size else ""))
    omitted = subprocess.run([BIN, "status", "--file", obj], capture_output=True, text=True).stdout.strip().splitlines()[-1:]
    print(f"last line of status: {omitted[0] if omitted else ''}")


if __name__ == "__main__":
    main()
