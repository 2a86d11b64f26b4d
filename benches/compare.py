#!/usr/bin/env python3
"""Run gradflow's criterion workloads (W1-W7) and the peer frameworks in one sitting and
print one markdown table of medians and ratios.

    python3 benches/compare.py              # full: 3 interleaved repetitions (~10-15 min)
    python3 benches/compare.py --quick      # 1 repetition, short criterion, fewer variants (~2.5 min)
    PEERS_VENV=/work/pyenv python3 benches/compare.py --out /tmp/run1

Standard library only: run it with any Python 3.8+. What it does:

1. Setup (skipped when already done): a Python venv with numpy, tensorflow-cpu, torch
   (at $PEERS_VENV, default benches/peers/.cache/venv), the Rust peers (dfdx, candle;
   benches/peers/rust, built twice: default target and -C target-cpu=native, into
   benches/peers/.cache/), the clock probe, and `cargo bench --bench workloads --no-run`.
2. REPS repetitions, each running in turn: gradflow's criterion benches
   (`cargo bench --bench workloads -- <criterion flags>`; medians read from
   target/criterion/*/new/estimates.json; bracketed by the core-to-core latency probe),
   numpy SGEMM (OpenBLAS, 1 thread), the clock and FMA-peak probes,
   dfdx, candle, TensorFlow, PyTorch. Everything single-threaded
   (OMP/OPENBLAS/MKL/RAYON_NUM_THREADS=1, framework thread pools = 1).
3. For each (workload, framework, variant): the median over repetitions of the per-process
   median. The table gives gradflow, every peer variant, the fastest peer and the speed-up
   (fastest peer time / gradflow time); W1 cycles per inference against the 32 FLOP/cycle
   limit; W4 GFLOP/s against single-thread OpenBLAS on the same nine products.

Raw JSON lines, logs and the table go to --out (default benches/peers/.cache/results/<stamp>).
"""
import argparse
import glob
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "benches", "peers")
CACHE = os.path.join(PEERS, ".cache")
PY_PACKAGES = ["numpy", "tensorflow-cpu==2.21.0", "torch==2.15.0"]

W4_FLOPS = 3 * 2 * 64 * (784 * 512 + 512 * 512 + 512 * 10)
# W1 forward: 2 x (16*32 + 32*32 + 32*4) multiply-adds (bias and ReLU not counted).
W1_FLOPS = 2 * (16 * 32 + 32 * 32 + 32 * 4)
PEAK_FLOP_PER_CYCLE = 32  # 2 FMA pipes x 8 fp32 lanes x 2

WORKLOADS = {
    "W1": ("tiny-infer", "µs", 1e3),
    "W2": ("digits-train", "ms", 1e6),
    "W3": ("deep-residual-train", "ms", 1e6),
    "W4": ("wide-train", "ms", 1e6),
    "W5": ("wide-infer-b1", "µs", 1e3),
    "W6": ("conv-train", "ms", 1e6),
    "W7": ("conv-infer-b1", "µs", 1e3),
}
ALL_PEERS = ["numpy", "tf", "torch", "dfdx", "candle"]

THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore",
}


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, cwd=ROOT, env=None, out=None, err=None, check=True):
    log("$ " + " ".join(shlex.quote(c) for c in cmd) + (f"   (in {os.path.relpath(cwd, ROOT)})" if cwd != ROOT else ""))
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(cmd, cwd=cwd, env=e, stdout=out, stderr=err)
    if check and r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r.returncode


# ---------------------------------------------------------------------------- setup

def venv_python(args):
    venv = os.environ.get("PEERS_VENV") or os.path.join(CACHE, "venv")
    py = os.path.join(venv, "bin", "python")
    need = [p for p in args.peers if p in ("numpy", "tf", "torch")]
    if not need:
        return py
    if not os.path.exists(py):
        if args.no_setup:
            raise SystemExit(f"no Python at {py}; set PEERS_VENV or drop --no-setup")
        log(f"creating venv {venv} (tensorflow-cpu + torch: several GB, 5-15 min)")
        run([sys.executable, "-m", "venv", venv])
    mods = {"numpy": "numpy", "tf": "tensorflow", "torch": "torch"}
    missing = [m for p, m in mods.items() if p in need
               and subprocess.run([py, "-c", f"import {m}"], capture_output=True).returncode != 0]
    if missing:
        if args.no_setup:
            raise SystemExit(f"{py} lacks {missing}; set PEERS_VENV or drop --no-setup")
        log(f"installing {PY_PACKAGES} into {venv}")
        run([py, "-m", "pip", "install", "-q"] + PY_PACKAGES)
    return py


def rust_peer_bins(args):
    """Build (if needed) the dfdx / candle peers: generic and -C target-cpu=native."""
    want = [p for p in args.peers if p in ("dfdx", "candle")]
    bins = {}
    if not want:
        return bins
    for variant, tdir, flags in [("generic", "target", None), ("native", "target-native", "-C target-cpu=native")]:
        if variant not in args.rust_variants:
            continue
        env = {"CARGO_TARGET_DIR": os.path.join(CACHE, tdir)}
        if flags:
            env["RUSTFLAGS"] = flags
        paths = {p: os.path.join(CACHE, tdir, "release", f"{p}_bench") for p in want}
        if not args.no_setup:
            log(f"building Rust peers ({variant}); the first build takes several minutes")
            run(["nice", "cargo", "build", "--release"], cwd=os.path.join(PEERS, "rust"), env=env)
        for p, path in paths.items():
            if os.path.exists(path):
                bins[(p, variant)] = path
            else:
                log(f"missing {path}: {p}/{variant} skipped")
    return bins


def c_probe(args, name, flags=()):
    """Compiles benches/peers/<name>.c once (again when the source is newer)."""
    exe = os.path.join(CACHE, name)
    src = os.path.join(PEERS, name + ".c")
    stale = not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src)
    if stale and not args.no_setup:
        os.makedirs(CACHE, exist_ok=True)
        try:
            run(["gcc", "-O2", *flags, "-o", exe, src], check=False)
        except FileNotFoundError:
            log(f"no gcc: {name}.c not built, its readings are left out")
    return exe if os.path.exists(exe) else None


def clock_probe(args):
    return c_probe(args, "clock_probe")


def fma_probe(args):
    return c_probe(args, "fma_peak")


def latency_probe(args):
    return c_probe(args, "core_latency", ["-pthread"])


def criterion_dir():
    tgt = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    if not os.path.isabs(tgt):
        tgt = os.path.join(ROOT, tgt)
    return os.path.join(tgt, "criterion")


# ---------------------------------------------------------------------------- running

def read_criterion(since):
    """Medians of this run's benches: target/criterion/<group>[/<function>]/new/estimates.json.

    Bench IDs in benches/workloads.rs: "W1 tiny-infer", "W5 wide-infer-b1", "W7 conv-infer-b1"
    (plain functions) and "W2 digits-train/step", "W3 deep-residual-train/step",
    "W4 wide-train/step", "W6 conv-train/step" (groups; with --features parallel also
    ".../step-1-threads" and ".../step-2-threads", kept as separate gradflow variants). The workload is the leading W<n>
    of the ID as recorded in benchmark.json (directory names may be sanitized by criterion).
    """
    res = []
    for bj in glob.glob(os.path.join(criterion_dir(), "**", "new", "benchmark.json"), recursive=True):
        est = os.path.join(os.path.dirname(bj), "estimates.json")
        if not os.path.exists(est) or os.path.getmtime(est) < since:
            continue  # stale: not written by this run
        with open(bj) as f:
            meta = json.load(f)
        m = re.match(r"(W\d+)\b", meta.get("full_id", ""))
        if not m:
            continue
        with open(est) as f:
            e = json.load(f)
        # The table's gradflow column is the plain bench ("W1 tiny-infer") or a group's "step";
        # other functions (e.g. "step-2-threads" with --features parallel) are listed apart.
        fn = meta.get("function_id")
        variant = "criterion" if meta.get("group_id") == meta.get("full_id") or fn in (None, "step") else fn
        d = {"peer": "gradflow", "variant": variant, "workload": m.group(1),
             "median_ns": e["median"]["point_estimate"],
             "median_ci_ns": [e["median"]["confidence_interval"]["lower_bound"],
                              e["median"]["confidence_interval"]["upper_bound"]],
             "id": meta.get("full_id")}
        sample = os.path.join(os.path.dirname(bj), "sample.json")
        if os.path.exists(sample):  # fastest sample, per iteration (cf. min_ns of the peers)
            with open(sample) as f:
                sm = json.load(f)
            d["min_ns"] = min(t / n for t, n in zip(sm["times"], sm["iters"]))
            d["samples"] = len(sm["iters"])
        res.append(d)
    return res


NICE = []  # set from --nice: prefix of every timed command


def run_jsonl(cmd, outdir, name, env=None, cwd=PEERS, transform=None):
    """Run a peer process; append its JSON lines to <name>.jsonl and return them."""
    cmd = NICE + cmd
    e = dict(THREAD_ENV)
    e.update(env or {})
    with open(os.path.join(outdir, "stderr.log"), "a") as err:
        err.write(f"\n=== {' '.join(cmd)}\n")
        err.flush()
        log("$ " + " ".join(cmd))
        r = subprocess.run(cmd, cwd=cwd, env={**os.environ, **e}, stdout=subprocess.PIPE, stderr=err, text=True)
    rows = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if transform:
                d = transform(d)
            rows.append(d)
    with open(os.path.join(outdir, f"{name}.jsonl"), "a") as f:
        for d in rows:
            f.write(json.dumps(d) + "\n")
    if r.returncode != 0:
        log(f"warning: {cmd[0]} exited with {r.returncode} (see stderr.log)")
    return rows


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


def one_repetition(args, rep, py, bins, probe, outdir, latency=None, fma=None):
    rows = [{"peer": "machine", "variant": "info", "workload": "load", "rep": rep, "loadavg_1min": loadavg()}]
    wl = args.workloads
    # Where the two cores are (sharing a cache or not) decides the two-thread figure; the
    # probe runs just before and just after gradflow's benches.
    lat = lambda when: [dict(d, rep=rep, when=when) for d in run_jsonl([latency], outdir, "latency")] if latency else []
    if not args.skip_gradflow:
        rows += lat("before")
        since = time.time() - 1
        with open(os.path.join(outdir, "criterion.log"), "a") as f:
            f.write(f"\n=== repetition {rep}\n")
            f.flush()
            run(NICE + ["cargo", "bench", "--bench", "workloads"] + shlex.split(args.cargo_args) + ["--"]
                + shlex.split(args.criterion_args)
                + ([args.criterion_filter] if args.criterion_filter else []),
                env=THREAD_ENV, out=f, err=subprocess.STDOUT)
        g = read_criterion(since)
        if not g:
            raise SystemExit(f"no criterion estimates under {criterion_dir()} newer than this run")
        with open(os.path.join(outdir, "gradflow.jsonl"), "a") as f:
            for d in g:
                d["rep"] = rep
                f.write(json.dumps(d) + "\n")
        rows += g
        rows += lat("after")
    if "numpy" in args.peers:
        rows += run_jsonl([py, "numpy_gemm.py"], outdir, "numpy")
    if probe:
        rows += run_jsonl([probe], outdir, "clock")
    if fma:
        rows += run_jsonl([fma], outdir, "fma_peak")
    for p in ("dfdx", "candle"):
        for v in ("generic", "native"):
            if (p, v) in bins:
                rows += run_jsonl([bins[(p, v)]] + wl, outdir, p)
    if "tf" in args.peers:
        rows += run_jsonl([py, "tf_bench.py"] + wl + [f"--variants={args.tf_variants}"], outdir, "tf")
    if "torch" in args.peers:
        rows += run_jsonl([py, "torch_bench.py"] + wl + [f"--variants={args.torch_variants}"], outdir, "torch")
    rows.append({"peer": "machine", "variant": "info", "workload": "load", "rep": rep, "loadavg_1min": loadavg()})
    with open(os.path.join(outdir, "machine.jsonl"), "a") as f:
        for d in (rows[0], rows[-1]):
            f.write(json.dumps(d) + "\n")
    return rows


# ---------------------------------------------------------------------------- table

def fmt_time(ns, unit_ns):
    v = ns / unit_ns
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def ratio_table(runs, cols, args, key, P):
    """One row per workload: gradflow, each peer column, fastest peer, speed-up."""
    stat = {k: statistics.median(r[key] for r in v if key in r) for k, v in runs.items()
            if any(key in r for r in v)}
    P("| workload | gradflow | " + " | ".join(f"{p} {v}" for p, v in cols) + " | fastest peer | speed-up |")
    P("|---|---|" + "---|" * len(cols) + "---|---|")
    for w, (name, unit, u) in WORKLOADS.items():
        if w not in args.workloads:
            continue
        g = stat.get((w, "gradflow", "criterion"))
        cells = []
        best = None
        for (p, v) in cols:
            t = stat.get((w, p, v))
            cells.append(fmt_time(t, u) if t else "-")
            if t and (best is None or t < best[0]):
                best = (t, f"{p} {v}")
        speed = f"**{best[0] / g:.2f}x**" if g and best else "-"
        P(f"| {w} {name} ({unit}) | {fmt_time(g, u) if g else '-'} | " + " | ".join(cells)
          + f" | {best[1] if best else '-'} | {speed} |")
    return stat


def table(rows, args):
    runs = defaultdict(list)
    info = defaultdict(list)
    for d in rows:
        if d.get("variant") == "info":
            info[d["workload"]].append(d)
        else:
            runs[(d["workload"], d["peer"], d["variant"])].append(d)
    cols = sorted({(p, v) for (w, p, v) in runs if w in WORKLOADS and p != "gradflow"})
    out = []
    P = out.append
    clk = info.get("clock", [])
    ghz = [d.get("est_ghz_cpu", d["est_ghz"]) for d in clk]
    ghz_med = statistics.median(ghz) if ghz else None

    P("Median time per pass or step (for each framework the median, over repetitions, of each "
      "process's median); µs for inference (W1, W5, W7), ms for training steps. "
      "Speed-up = fastest peer's time / gradflow's time (> 1: gradflow is faster).\n")
    med = ratio_table(runs, cols, args, "median_ns", P)

    extra = sorted({(w, v) for (w, p, v) in runs if p == "gradflow" and v != "criterion"})
    if extra:
        P("\nOther gradflow benches (not in the ratios): " + "; ".join(
            f"{w} {v}: {fmt_time(med[(w, 'gradflow', v)], WORKLOADS[w][2])} {WORKLOADS[w][1]}"
            for w, v in extra if (w, "gradflow", v) in med and w in WORKLOADS))

    P("\nBest chunk (peers: fastest of the 15 timed chunks; gradflow: fastest criterion sample, "
      "per iteration; median over repetitions). Less sensitive to other processes on a shared "
      "machine than the medians; same units:\n")
    ratio_table(runs, cols, args, "min_ns", P)

    P("\nSpread of the medians (min-max over repetitions, same units; n = repetitions):\n")
    P("| workload | " + " | ".join(["gradflow"] + [f"{p} {v}" for p, v in cols]) + " |")
    P("|---|" + "---|" * (len(cols) + 1))
    for w, (name, unit, u) in WORKLOADS.items():
        if w not in args.workloads:
            continue
        cells = []
        for (p, v) in [("gradflow", "criterion")] + cols:
            m = [r["median_ns"] for r in runs.get((w, p, v), [])]
            cells.append(f"{fmt_time(min(m), u)}-{fmt_time(max(m), u)} (n={len(m)})" if m else "-")
        P(f"| {w} | " + " | ".join(cells) + " |")

    P("\nMachine reference:\n")
    if ghz_med:
        wall = [d["est_ghz"] for d in clk]
        P(f"- core clock (clock_probe.c, dependent adds per CPU-second): {ghz_med:.2f} GHz "
          f"(runs {min(ghz):.2f}-{max(ghz):.2f}; per wall-clock second {min(wall):.2f}-{max(wall):.2f}, "
          f"lower when the machine is busy) -> fp32 limit of one core = "
          f"{PEAK_FLOP_PER_CYCLE} FLOP/cycle x {ghz_med:.2f} GHz = {PEAK_FLOP_PER_CYCLE * ghz_med:.0f} GFLOP/s")
    peak = {}
    for isa in ("avx2", "avx512"):
        v = [d[f"{isa}_gflops"] for d in info.get("fma_peak", []) if f"{isa}_gflops" in d]
        if v:
            peak[isa] = statistics.median(v)
    if peak:
        per_cycle = (lambda g: f" = {g / ghz_med:.0f} FLOP/cycle at {ghz_med:.2f} GHz") if ghz_med else (lambda g: "")
        P("- measured fp32 multiply-add peak of one core (fma_peak.c, 12 independent FMA chains, "
          "median of the repetitions): " + "; ".join(
              f"{'AVX-512' if isa == 'avx512' else 'AVX2'} {g:.0f} GFLOP/s{per_cycle(g)}" for isa, g in peak.items()))
    load = [d["loadavg_1min"] for d in info.get("load", []) if d.get("loadavg_1min") is not None]
    if load:
        P(f"- 1-minute load average at the start/end of the repetitions: "
          + ", ".join(f"{x:.1f}" for x in load) + f" ({os.cpu_count()} cores: above {os.cpu_count()}, processes wait for a core)")
    lat = [d for d in info.get("core_latency", []) if "round_trip_ns" in d]
    if lat:
        P(f"- core-to-core round trip of a cache line (core_latency.c, CPUs {lat[0]['cpus'][0]} and {lat[0]['cpus'][1]}) before/after "
          "gradflow's benches: " + ", ".join(
              f"{d['round_trip_ns']:.0f}" for d in sorted(lat, key=lambda d: (d.get("rep", 0), d.get("when") != "before")))
          + " ns (about 50: the cores share a last-level cache; several times that: they do not, and "
          "two-thread figures suffer; benches/two_threads.py measures them round by round)")
    g1 = med.get(("W1", "gradflow", "criterion"))
    if g1 and ghz_med:
        cyc = g1 * ghz_med
        lim = W1_FLOPS / PEAK_FLOP_PER_CYCLE
        P(f"- W1: gradflow {g1:.1f} ns x {ghz_med:.2f} GHz = **{cyc:.0f} cycles/inference**; "
          f"{W1_FLOPS} FLOP / {PEAK_FLOP_PER_CYCLE} FLOP/cycle = {lim:.0f} cycles at the limit "
          f"-> {W1_FLOPS / cyc:.1f} FLOP/cycle, {100 * lim / cyc:.0f}% of the limit")
    sg = {k[0]: statistics.median(r["gflops"] for r in v) for k, v in runs.items()
          if k[1] == "numpy" and k[0].startswith("sgemm")}
    for k in sorted(sg):
        P(f"- OpenBLAS 1 thread, {k}: {sg[k]:.1f} GFLOP/s")
    ref = sg.get("sgemm_w4")
    w4 = [(p, v, t) for (w, p, v), t in med.items() if w == "W4"]  # incl. other gradflow variants
    if w4:
        P(f"\nW4 wide-train GFLOP/s, counting 3 x 2 x 64 x (784*512 + 512*512 + 512*10) = "
          f"{W4_FLOPS / 1e6:.1f} MFLOP per step (WORKLOADS.md), against single-thread OpenBLAS on "
          "the same nine products (numpy_gemm.py sgemm_w4) and the fp32 limit of one core:\n")
        top = max(peak.values()) if peak else None
        P("| framework | ms/step | GFLOP/s | % of OpenBLAS sgemm_w4 |" + (" % of fp32 limit |" if ghz_med else "")
          + (" % of measured FMA peak |" if top else ""))
        P("|---|---|---|---|" + ("---|" if ghz_med else "") + ("---|" if top else ""))
        for p, v, t in sorted(w4, key=lambda x: x[2]):
            gf = W4_FLOPS / t
            pct = f"{100 * gf / ref:.0f}%" if ref else "-"
            lim = f" {100 * gf / (PEAK_FLOP_PER_CYCLE * ghz_med):.0f}% |" if ghz_med else ""
            lim += f" {100 * gf / top:.0f}% |" if top else ""
            name = ("**gradflow**" if v == "criterion" else f"gradflow {v}") if p == "gradflow" else f"{p} {v}"
            P(f"| {name} | {t / 1e6:.2f} | {gf:.1f} | {pct} |{lim}")
    for d in info.get("peak", [])[:1]:
        blas = re.search(r"'openblas configuration': '([^']*)'", str(d.get("blas")))
        P(f"\nnumpy {d.get('numpy')}; BLAS: {blas.group(1).strip() if blas else d.get('blas')}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, short criterion run, TF graph only, Rust peers native only")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; 1 with --quick)")
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help="comma list of " + ",".join(ALL_PEERS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list, default W1,...,W7")
    ap.add_argument("--criterion-args", help="flags after `cargo bench --bench workloads --`")
    ap.add_argument("--criterion-filter", default="", help="criterion name filter (regex)")
    ap.add_argument("--cargo-args", default="", help='extra cargo flags, e.g. "--features parallel"')
    ap.add_argument("--tf-variants", help="default graph,xla (quick: graph); eager is very slow")
    ap.add_argument("--torch-variants", default="eager", help="eager[,compile]")
    ap.add_argument("--rust-variants", help="generic,native (quick: native)")
    ap.add_argument("--nice", type=int, default=None,
                    help="run every timed process under `nice -n N` (N < 0 needs root: takes the "
                         "cores from other users' jobs on a shared machine; off by default)")
    ap.add_argument("--skip-gradflow", action="store_true", help="peers only")
    ap.add_argument("--no-setup", action="store_true", help="never create the venv or build; fail instead")
    ap.add_argument("--out", help="directory for raw results (default benches/peers/.cache/results/<stamp>)")
    ap.add_argument("--table-only", nargs="*", metavar="JSONL", help="re-aggregate saved .jsonl files and exit")
    args = ap.parse_args()
    q = args.quick
    args.reps = args.reps or (1 if q else 3)
    args.peers = [p for p in args.peers.split(",") if p]
    args.workloads = [w.upper() for w in args.workloads.split(",") if w]
    args.tf_variants = args.tf_variants or ("graph" if q else "graph,xla")
    args.rust_variants = (args.rust_variants or ("native" if q else "generic,native")).split(",")
    if args.criterion_args is None:
        args.criterion_args = ("--warm-up-time 0.5 --measurement-time 1 --sample-size 10" if q
                               else "--warm-up-time 2 --measurement-time 5 --sample-size 30")
    if not args.criterion_filter and set(args.workloads) != set(WORKLOADS):
        args.criterion_filter = "^(" + "|".join(args.workloads) + ") "
    if args.table_only is not None:
        rows = []
        for p in args.table_only:
            with open(p) as f:
                rows += [json.loads(x) for x in f if x.strip().startswith("{")]
        print(table(rows, args))
        return

    if args.nice is not None:
        NICE[:] = ["nice", "-n", str(args.nice)]
    t0 = time.time()
    outdir = args.out or os.path.join(CACHE, "results", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(outdir, exist_ok=True)
    log(f"raw results -> {outdir}")
    py = venv_python(args)
    bins = rust_peer_bins(args)
    probe = clock_probe(args)
    fma = fma_probe(args)
    latency = latency_probe(args) if (os.cpu_count() or 1) >= 2 else None
    if not args.skip_gradflow:
        run(["cargo", "bench", "--bench", "workloads", "--no-run"] + shlex.split(args.cargo_args))
    log(f"setup done in {time.time() - t0:.0f} s; {args.reps} repetition(s)")
    with open(os.path.join(outdir, "command.txt"), "w") as f:
        f.write(" ".join(shlex.quote(a) for a in sys.argv) + "\n" + json.dumps(vars(args), default=str) + "\n")
    rows = []
    t1 = time.time()
    for rep in range(1, args.reps + 1):
        log(f"== repetition {rep}/{args.reps}")
        rows += one_repetition(args, rep, py, bins, probe, outdir, latency, fma)
    t = table(rows, args)
    t += (f"\n\n{args.reps} repetition(s), measuring took {(time.time() - t1) / 60:.1f} min "
          f"(total {(time.time() - t0) / 60:.1f} min); raw results: {outdir}")
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(t + "\n")
    print(t)


if __name__ == "__main__":
    main()
