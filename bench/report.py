"""Summarise a bench/run_benchmark.sh run: times, memory, ratios, agreement.

Reads what run_benchmark.sh left in --out-dir:
  northstar_steps_<run>.tsv (or northstar_steps.tsv), lifetimes_steps.tsv
                                             step<TAB>wall seconds<TAB>max RSS KiB
  loadavg_northstar.txt, loadavg_lifetimes.txt  /proc/loadavg before each tool ran
  lifetimes_timings.json                     lifetimes' in-process step times, params
  clv.csv, clv_lifetimes.csv                 the two CLV outputs
  rfm.csv, bgnbd.json, gg.json               northstar's summary and fitted models
and prints a table (also written to report.md, with the numbers in report.json).
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BG_KEYS = ("r", "alpha", "a", "b")
GG_KEYS = ("p", "q", "v")


def read_steps(path):
    steps = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, wall, rss = line.split("\t")
            steps[name] = {"wall_s": float(wall), "max_rss_kib": int(rss) if rss else None}
    return steps


def northstar_runs(out):
    """Every northstar run's steps, in run order (northstar_steps_<run>.tsv, or the single
    northstar_steps.tsv of older runs)."""
    files = sorted(out.glob("northstar_steps_*.tsv"), key=lambda f: int(f.stem.rsplit("_", 1)[1]))
    if not files and (out / "northstar_steps.tsv").exists():
        files = [out / "northstar_steps.tsv"]
    return [read_steps(f) for f in files]


def median_run(runs):
    """The run with the median total wall time (the lower middle one for an even count)."""
    if not runs:
        return {}, []
    totals = [sum(s["wall_s"] for s in r.values()) for r in runs]
    order = sorted(range(len(runs)), key=lambda i: totals[i])
    return runs[order[(len(runs) - 1) // 2]], totals


def loadavg(out, tool):
    path = out / f"loadavg_{tool}.txt"
    return " ".join(path.read_text().split()[:3]) if path.exists() else None


def find_params(obj, keys):
    """The first dict (depth first) in a JSON value that holds all `keys` as numbers."""
    if isinstance(obj, dict):
        if all(isinstance(obj.get(k), (int, float)) for k in keys):
            return {k: float(obj[k]) for k in keys}
        for v in obj.values():
            found = find_params(v, keys)
            if found:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = find_params(v, keys)
            if found:
                return found
    return None


def load_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def id_and_column(df, wanted):
    """(customer id column, the column named `wanted` or the last one containing it)."""
    cols = list(df.columns)
    lower = [c.lower() for c in cols]
    id_col = cols[lower.index("customer_id")] if "customer_id" in lower else cols[0]
    if wanted in lower:
        return id_col, cols[lower.index(wanted)]
    matches = [c for c, lc in zip(cols, lower) if wanted in lc]
    return id_col, (matches[-1] if matches else None)


def read_keyed(path, column):
    df = pd.read_csv(path, dtype=str)
    id_col, col = id_and_column(df, column)
    if col is None:
        return None
    s = pd.Series(pd.to_numeric(df[col], errors="coerce").to_numpy(), index=df[id_col].str.strip())
    return s


def rel_diff_stats(ns, lt):
    joined = pd.concat([ns.rename("ns"), lt.rename("lt")], axis=1, join="inner")
    out = {
        "in_both": int(len(joined)),
        "northstar_only": int(len(ns.index.difference(lt.index))),
        "lifetimes_only": int(len(lt.index.difference(ns.index))),
    }
    if len(joined) == 0:
        return out
    a, b = joined["ns"].to_numpy(float), joined["lt"].to_numpy(float)
    finite = np.isfinite(a) & np.isfinite(b)
    out["non_finite"] = int((~finite).sum())
    a, b = a[finite], b[finite]
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
    out.update(
        median_rel_diff=float(np.median(rel)),
        p99_rel_diff=float(np.quantile(rel, 0.99)),
        max_rel_diff=float(rel.max()),
        total_northstar=float(a.sum()),
        total_lifetimes=float(b.sum()),
        total_rel_diff=float(abs(a.sum() - b.sum()) / max(abs(b.sum()), 1e-12)),
    )
    return out


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt_s(x):
    return "-" if x is None else (f"{x:.3f} s" if x < 10 else f"{x:.1f} s")


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def fmt_ratio(lt, ns):
    if lt is None or ns is None or ns <= 0:
        return "-"
    return f"{lt / ns:.1f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=Path("bench/out"))
    ap.add_argument("--customers", type=int)
    ap.add_argument("--transactions", type=int)
    ap.add_argument("--summary-freq", default="W")
    ap.add_argument("--northstar-bin", default="northstar")
    args = ap.parse_args()
    out = args.out_dir

    runs = northstar_runs(out)
    ns_steps, run_totals = median_run(runs)
    lt_proc = read_steps(out / "lifetimes_steps.tsv").get("lifetimes")
    lt_info = load_json(out / "lifetimes_timings.json") if lt_proc else None
    lt_t = lt_info["steps_seconds"] if lt_info else {}

    def ns(name):
        return ns_steps.get(name, {}).get("wall_s")

    def lt(*names):
        vals = [lt_t.get(n) for n in names]
        return None if not lt_t or any(v is None for v in vals) else sum(vals)

    ns_total = sum(s["wall_s"] for s in ns_steps.values()) if ns_steps else None
    # Memory: the largest of every step of every run.
    ns_rss = max((s["max_rss_kib"] or 0) for r in runs for s in r.values()) if runs else None
    lt_total = lt_proc["wall_s"] if lt_proc else None
    lt_rss = lt_proc["max_rss_kib"] if lt_proc else None

    rows = [
        ("python start + imports", None, lt("import")),
        ("read + summarize", ns("ns_summarize"), lt("read", "summarize")),
        ("fit BG/NBD", ns("ns_fit_bgnbd"), lt("fit_bgnbd")),
        ("fit Gamma-Gamma", ns("ns_fit_gg"), lt("fit_gg")),
        ("CLV + write", ns("ns_clv"), lt("clv", "write")),
    ]
    lines = []
    p = lines.append
    n_cust = args.customers
    title = f"northstar vs lifetimes {lt_info['lifetimes_version'] if lt_info else '0.11.3'}"
    if lt_info:
        n_cust = lt_info["customers"]
    p(f"## {title}: {n_cust:,} customers, {args.transactions:,} transactions")
    p("")
    p(f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    p(f"- machine: {machine()}")
    p(f"- northstar: {args.northstar_bin} (git {git_rev()})")
    p(f"- lifetimes summary: freq='{args.summary_freq}'"
      + (" (calendar weeks)" if args.summary_freq == "W" else " (days / 7, as northstar)"))
    p("- northstar steps are separate processes (each reads its input file and writes its output);"
      " lifetimes runs in one process")
    if len(run_totals) > 1:
        p(f"- northstar pipeline run {len(run_totals)} times, totals "
          + ", ".join(fmt_s(t) for t in run_totals)
          + "; the table shows the run with the median total (max RSS: the largest of all runs)")
    loads = [(tool, loadavg(out, tool)) for tool in ("northstar", "lifetimes")]
    if any(v for _, v in loads):
        p("- load average (1, 5, 15 min) before the runs: "
          + "; ".join(f"{tool} {v}" for tool, v in loads if v))
    p("")
    p("| step | northstar | lifetimes | lifetimes / northstar |")
    p("|---|---:|---:|---:|")
    for name, a, b in rows:
        p(f"| {name} | {fmt_s(a)} | {fmt_s(b)} | {fmt_ratio(b, a) if a is not None else '-'} |")
    p(f"| **total wall time** | **{fmt_s(ns_total)}** | **{fmt_s(lt_total)}** | **{fmt_ratio(lt_total, ns_total)}** |")
    p(f"| **max RSS** | **{fmt_mib(ns_rss)}** | **{fmt_mib(lt_rss)}** | **{fmt_ratio(lt_rss, ns_rss)}** |")
    if "simulate" in read_steps(out / "data_steps.tsv"):
        sim = read_steps(out / "data_steps.tsv")["simulate"]
        p("")
        p(f"(data generation, not compared: northstar simulate {fmt_s(sim['wall_s'])}, {fmt_mib(sim['max_rss_kib'])})")

    report = {
        "customers": n_cust,
        "transactions": args.transactions,
        "summary_freq": args.summary_freq,
        "northstar_steps": ns_steps,
        "northstar_run_totals_s": run_totals,
        "loadavg": {tool: v for tool, v in loads},
        "lifetimes_process": lt_proc,
        "lifetimes_steps_seconds": lt_t,
        "total_wall_s": {"northstar": ns_total, "lifetimes": lt_total},
        "max_rss_kib": {"northstar": ns_rss, "lifetimes": lt_rss},
    }

    # --- fitted parameters side by side ---
    ns_bg = find_params(load_json(out / "bgnbd.json"), BG_KEYS)
    ns_gg = find_params(load_json(out / "gg.json"), GG_KEYS)
    if lt_info:
        p("")
        p("| parameter | true (simulated) | northstar | lifetimes |")
        p("|---|---:|---:|---:|")
        truth = dict(r=0.2425945, alpha=4.4136019, a=0.7929199, b=2.4258881, p=6.2488, q=3.7446, v=15.4478)
        for keys, nsp, ltp in ((BG_KEYS, ns_bg, lt_info["bgnbd"]), (GG_KEYS, ns_gg, lt_info["gamma_gamma"])):
            for k in keys:
                nsv = f"{nsp[k]:.6g}" if nsp else "?"
                p(f"| {k} | {truth[k]:.6g} | {nsv} | {ltp[k]:.6g} |")
        report["params"] = {"northstar": {"bgnbd": ns_bg, "gg": ns_gg},
                            "lifetimes": {"bgnbd": lt_info["bgnbd"], "gg": lt_info["gamma_gamma"]}}

    # --- agreement of the outputs ---
    clv_ns, clv_lt = out / "clv.csv", out / "clv_lifetimes.csv"
    if lt_info and clv_ns.exists() and clv_lt.exists():
        ns_clv = read_keyed(clv_ns, "clv")
        lt_clv = read_keyed(clv_lt, "clv")
        p("")
        if ns_clv is None:
            p(f"CLV agreement: no 'clv' column found in {clv_ns}")
        else:
            st = rel_diff_stats(ns_clv, lt_clv)
            report["clv_agreement"] = st
            p(f"CLV agreement over {st['in_both']:,} customers in both outputs"
              f" ({st['northstar_only']} only in northstar, {st['lifetimes_only']} only in lifetimes):")
            if st["in_both"]:
                p(f"- relative difference |northstar - lifetimes| / |lifetimes|: median {st['median_rel_diff']:.2e},"
                  f" 99th percentile {st['p99_rel_diff']:.2e}, max {st['max_rel_diff']:.2e}")
                p(f"- total CLV: northstar {st['total_northstar']:,.2f}, lifetimes {st['total_lifetimes']:,.2f}"
                  f" (relative difference {st['total_rel_diff']:.2e})")
        # The summaries, when both are on disk, explain most disagreements.
        rfm = out / "rfm.csv"
        if rfm.exists():
            agree = {}
            for col in ("frequency", "recency", "T", "monetary_value"):
                # Column names are matched case-insensitively ("t" finds "T").
                a_s, b_s = read_keyed(rfm, col.lower()), read_keyed(clv_lt, col.lower())
                if a_s is None or b_s is None:
                    continue
                j = pd.concat([a_s.rename("a"), b_s.rename("b")], axis=1, join="inner")
                d = (j["a"] - j["b"]).abs()
                agree[col] = {"share_equal": float((d <= 1e-9 * np.maximum(j["b"].abs(), 1)).mean()),
                              "max_abs_diff": float(d.max())}
            if agree:
                report["summary_agreement"] = agree
                p("- RFM summaries: " + "; ".join(
                    f"{c} equal for {v['share_equal']:.1%} (max |diff| {v['max_abs_diff']:.4g})"
                    for c, v in agree.items()))
        if args.summary_freq == "W":
            p("- note: lifetimes' freq='W' bins purchase dates into calendar weeks (whole-week recency and T,"
              " purchases in one week merged), while northstar's --time-unit week is days / 7;"
              " for a like-for-like check run with LIFETIMES_SUMMARY_FREQ=D")

    text = "\n".join(lines) + "\n"
    print(text)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"(saved {out / 'report.md'} and {out / 'report.json'})", file=sys.stderr)


if __name__ == "__main__":
    main()
