#!/usr/bin/env python3
"""Benchmark (not a test): `snapshot` then `status --details=all` on a generated 5,000-node cluster.

Prints wall time and peak resident memory of each command and of the pair, over several runs, and
the size of what `snapshot` wrote. When `KUBEBUILDER_ASSETS` holds the real `oc`, each run also
times `oc adm upgrade status --mock-clusterversion ... --details=all` on the same files, checks that
its output is byte-identical to ours, and prints the ratios. Targets: the pair under 0.25 s and
70 MiB (issue 3); at most 0.5x `oc`'s time and memory (issue 15).

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

    oc = os.path.join(os.environ.get("KUBEBUILDER_ASSETS", ""), "oc")
    oc = oc if os.path.isfile(oc) else None
    ours_out, oc_out = os.path.join(work, "ours.txt"), os.path.join(work, "oc.txt")
    snap, stat, pair, rss, oc_time, oc_rss = [], [], [], [], [], []
    for _ in range(a.runs):
        if oc:
            with open(oc_out, "wb") as out:
                t, m = run([oc, "adm", "upgrade", "status", f"--mock-clusterversion={cv}", "--details=all"], out)
            oc_time.append(t)
            oc_rss.append(m)
        with open(obj, "wb") as out:
            t1, m1 = run([BIN, "snapshot", cv, "--output", a.format], out)
        with open(ours_out, "wb") as out:
            t2, m2 = run([BIN, "status", "--file", obj, "--details=all"], out)
        snap.append(t1)
        stat.append(t2)
        pair.append(t1 + t2)
        rss.append(max(m1, m2))
        if oc:
            with open(ours_out, "rb") as x, open(oc_out, "rb") as y:
                if x.read() != y.read():
                    sys.exit(f"our output differs from oc's: diff {ours_out} {oc_out}")

    size = os.path.getsize(obj)
    items = len(json.load(open(obj))["items"]) if a.format == "json" else None

    def fmt(xs):
        return f"min {min(xs) * 1000:.0f} ms, median {statistics.median(xs) * 1000:.0f} ms"

    print(f"cluster: {a.nodes} nodes, {a.operators} operators; object format {a.format}; {a.runs} runs")
    print(f"snapshot:        {fmt(snap)}")
    print(f"status --details=all: {fmt(stat)}")
    print(f"pair:            {fmt(pair)}   (target < 250 ms)")
    print(f"peak RSS:        {max(rss):.1f} MiB   (target < 70 MiB)")
    print(f"objects:         {size} bytes on disk" + (f", {items} items (the singleton and one per node)" if items else ""))
    if oc:
        print(f"oc:              {fmt(oc_time)}; peak RSS {max(oc_rss):.1f} MiB; output byte-identical in every run")
        print(f"ratio to oc:     time {statistics.median(pair) / statistics.median(oc_time):.2f}x, "
              f"memory {max(rss) / max(oc_rss):.2f}x   (target <= 0.5x each)")
    else:
        print("oc:              not compared (KUBEBUILDER_ASSETS has no oc; see README)")
    omitted = subprocess.run([BIN, "status", "--file", obj], capture_output=True, text=True).stdout.strip().splitlines()[-1:]
    print(f"last line of status: {omitted[0] if omitted else ''}")


if __name__ == "__main__":
    main()
