#!/usr/bin/env python3
"""W4's training step on one and on two threads (`--features parallel`), each pair of runs
bracketed by the core-to-core latency probe, so that every two-thread figure comes with where
the two cores were at the time: the probe runs just before and just after each two-thread
measurement.

    python3 benches/two_threads.py              # 8 rounds, about 1.5 min once built
    python3 benches/two_threads.py --rounds 20 --out /tmp/two

On a VM the host decides where the vCPUs run: when gradflow's two threads run on cores that
share a last-level cache, a round trip of a cache line between them (benches/peers/core_latency.c)
takes about 50 ns; on cores that do not, several times that, and the two-thread step is then
slower than the one-thread one (docs/performance.md, "Two threads"). Each round prints the one-thread median, the probe, the
two-thread median, the probe again, and the speed-up (criterion medians of `W4
wide-train/step-1-threads` and `step-2-threads`, explicit rayon pools, each its own run of the
bench binary). The summary gives the median speed-up of the
rounds whose probes both read below --shared-below ns (default 120) and of those whose probes
both read above it. Standard library only.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (same directory: criterion paths, logging)

BENCH = "W4 wide-train/step-"


def build_bench():
    """`cargo bench --no-run` with `parallel`; returns the bench executable's path."""
    r = subprocess.run(["cargo", "bench", "--bench", "workloads", "--features", "parallel", "--no-run"],
                       cwd=compare.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(r.stdout + "\ncargo bench --no-run failed")
    m = re.findall(r"Executable benches/workloads\.rs \(([^)]+)\)", r.stdout)
    if not m:
        sys.exit(r.stdout + "\nno bench executable in cargo's output")
    return os.path.join(compare.ROOT, m[-1])


def build_probe():
    exe = compare.latency_probe(argparse.Namespace(no_setup=False))
    if not exe:
        sys.exit("the core latency probe could not be built (it needs gcc)")
    return exe


def probe(exe):
    out = subprocess.run([exe], stdout=subprocess.PIPE, text=True).stdout
    d = json.loads(out)
    if "error" in d:
        sys.exit(f"core latency probe: {d['error']}")
    return d["round_trip_ns"]


def step_median(exe, threads, criterion_args):
    """Runs W4's step on a pool of `threads` threads once; returns criterion's median (ns)."""
    since = time.time() - 1
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    r = subprocess.run([exe, "--bench", f"{BENCH}{threads}-threads"] + criterion_args, cwd=compare.ROOT,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(r.stdout + "\nthe bench failed")
    got = [d["median_ns"] for d in compare.read_criterion(since)
           if d["workload"] == "W4" and d["variant"] == f"step-{threads}-threads"]
    if len(got) != 1:
        sys.exit(f"expected one estimate of step-{threads}-threads, got {len(got)}")
    return got[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--criterion-args", default="--warm-up-time 1 --measurement-time 3 --sample-size 20")
    ap.add_argument("--shared-below", type=float, default=120.0,
                    help="round trip (ns) below which the two cores count as sharing a cache")
    ap.add_argument("--out", help="also write the rows as JSON lines here")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if (os.cpu_count() or 1) < 2:
        sys.exit("two threads need two CPUs; this machine has one")
    exe, pexe = build_bench(), build_probe()
    rows = []
    print("| round | 1 thread (ms) | round trip before (ns) | 2 threads (ms) | round trip after (ns) | speed-up |")
    print("|---|---|---|---|---|---|")
    for i in range(1, args.rounds + 1):
        one = step_median(exe, 1, args.criterion_args.split())
        before = probe(pexe)
        two = step_median(exe, 2, args.criterion_args.split())
        after = probe(pexe)
        row = {"round": i, "one_ms": one / 1e6, "before_ns": before, "two_ms": two / 1e6,
               "after_ns": after, "speedup": one / two}
        rows.append(row)
        print(f"| {i} | {row['one_ms']:.3f} | {before:.0f} | {row['two_ms']:.3f} | {after:.0f} | "
              f"{row['speedup']:.2f}x |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print()
    groups = {
        f"cores sharing a cache (both probes < {args.shared_below:.0f} ns)":
            [r for r in rows if max(r["before_ns"], r["after_ns"]) < args.shared_below],
        f"cores apart (both probes >= {args.shared_below:.0f} ns)":
            [r for r in rows if min(r["before_ns"], r["after_ns"]) >= args.shared_below],
    }
    mixed = len(rows) - sum(len(g) for g in groups.values())
    for name, g in groups.items():
        if g:
            s = [r["speedup"] for r in g]
            print(f"- {name}: {len(g)} round(s), speed-up median {statistics.median(s):.2f}x "
                  f"(range {min(s):.2f}-{max(s):.2f}x)")
        else:
            print(f"- {name}: no round")
    if mixed:
        print(f"- placement changed during {mixed} round(s) (one probe on each side): not grouped")


if __name__ == "__main__":
    main()
