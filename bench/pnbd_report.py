"""Summarise a bench/run_pnbd_benchmark.sh run: Pareto/NBD fit times, memory, ratio, fits.

Reads what run_pnbd_benchmark.sh left in --work-dir (bench/out/pnbd):
  data_steps.tsv, northstar_fit.tsv, lifetimes_fit.tsv
      name<TAB>wall s<TAB>max RSS KiB<TAB>user s<TAB>sys s  (from /usr/bin/time -v)
  ns_fit_<i>.json      `northstar fit pnbd --json` of run i
  lifetimes.json       bench/lifetimes_pnbd_fit.py's timings, parameters, log-likelihoods
  loadavg_start.txt    /proc/loadavg before the runs
and prints a Markdown report, also written to --out-dir as pnbd_report.md and
pnbd_report_<customers>.md, with the numbers in the matching .json files.
"""

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from report import fmt_mib, git_rev, machine  # bench/report.py

PARAM_KEYS = ("r", "alpha", "s", "beta")
TARGET_RATIO = 50.0  # issue #4


def read_steps(path):
    steps = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, wall, rss, usr, sys_ = line.split("\t")
            steps[name] = {
                "wall_s": float(wall),
                "max_rss_kib": int(rss) if rss else None,
                "user_s": float(usr) if usr else None,
                "sys_s": float(sys_) if sys_ else None,
            }
    return steps


def load_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def find_params(obj):
    """The first dict (depth first) in a JSON value holding r, alpha, s and beta as numbers."""
    if isinstance(obj, dict):
        if all(isinstance(obj.get(k), (int, float)) for k in PARAM_KEYS):
            return {k: float(obj[k]) for k in PARAM_KEYS}
        for v in obj.values():
            found = find_params(v)
            if found:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = find_params(v)
            if found:
                return found
    return None


def fmt_s(x):
    if x is None:
        return "-"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def fmt_ratio(a, b):
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.1f}x"


def bin_built(path):
    """When the binary was last written (NORTHSTAR_BIN may be older than the working tree)."""
    try:
        mtime = dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.timezone.utc)
    except OSError:
        return "build time unknown"
    return "built " + mtime.strftime("%Y-%m-%d %H:%M UTC")


def cpu(step):
    if not step or step.get("user_s") is None or step.get("sys_s") is None:
        return None
    return step["user_s"] + step["sys_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=Path("bench/out"))
    ap.add_argument("--work-dir", type=Path, default=Path("bench/out/pnbd"))
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--transactions", type=int)
    ap.add_argument("--true-params", default="", help="r=..,alpha=..,s=..,beta=.. used for the simulation")
    ap.add_argument("--northstar-bin", default="northstar")
    args = ap.parse_args()
    work = args.work_dir

    truth = {}
    for kv in filter(None, args.true_params.split(",")):
        k, v = kv.split("=")
        truth[k.strip()] = float(v)

    data = read_steps(work / "data_steps.tsv")
    ns_runs = read_steps(work / "northstar_fit.tsv")
    if not ns_runs:
        sys.exit(f"error: no northstar fit times in {work / 'northstar_fit.tsv'}")
    names = sorted(ns_runs, key=lambda n: int(n.rsplit("_", 1)[1]))
    walls = [ns_runs[n]["wall_s"] for n in names]
    ns_wall = statistics.median(walls)
    # The run whose wall time is the median (for odd counts; else the lower middle one).
    mid_name = sorted(names, key=lambda n: ns_runs[n]["wall_s"])[(len(names) - 1) // 2]
    ns_mid = ns_runs[mid_name]
    ns_rss = max(s["max_rss_kib"] or 0 for s in ns_runs.values())
    ns_fits = {n: load_json(work / f"ns_fit_{n.rsplit('_', 1)[1]}.json") for n in names}
    ns_fit = ns_fits[mid_name] or next((f for f in ns_fits.values() if f), None)
    ns_params = find_params(ns_fit)
    ns_ll = ns_fit.get("log_likelihood") if ns_fit else None

    lt_proc = read_steps(work / "lifetimes_fit.tsv").get("lifetimes")
    lt = load_json(work / "lifetimes.json") if lt_proc else None
    lt_fit = lt["steps_seconds"]["fit"] if lt else None
    lt_wall = lt_proc["wall_s"] if lt_proc else None
    loadavg = (work / "loadavg_start.txt").read_text().strip() if (work / "loadavg_start.txt").exists() else "?"

    lines = []
    p = lines.append
    n_tx = f", {args.transactions:,} transactions" if args.transactions is not None else ""
    if lt:
        p(f"## Pareto/NBD fit, northstar vs lifetimes {lt['lifetimes_version']}: {args.customers:,} customers{n_tx}")
    else:
        p(f"## Pareto/NBD fit, northstar: {args.customers:,} customers{n_tx}")
    p("")
    p(f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    p(f"- machine: {machine()}; load average before the runs: {loadavg}")
    p(f"- northstar: {args.northstar_bin} ({bin_built(args.northstar_bin)}; working tree at git {git_rev()});"
      f" `northstar fit pnbd pnbd_rfm.csv --json`, the whole"
      f" process (read the RFM CSV, fit, print JSON), {len(walls)} runs:"
      f" {', '.join(fmt_s(w) for w in walls)}; the median is reported")
    if lt:
        opt = lt.get("optimizer", {})
        seed = f"numpy seed {lt['seed']}" if lt.get("seed") is not None else "numpy unseeded"
        p(f"- lifetimes: `ParetoNBDFitter().fit(frequency, recency, T)` with its defaults"
          f" (Nelder-Mead, tol 1e-4, random start, {seed}), one run; python {lt['python_version']},"
          f" numpy {lt['numpy_version']}, scipy {lt['scipy_version']}, pandas {lt['pandas_version']}")
    p("")
    if lt:
        p("| | northstar | lifetimes | lifetimes / northstar |")
        p("|---|---:|---:|---:|")
        p(f"| **fit** (northstar: whole process, median; lifetimes: the `fit` call) | **{fmt_s(ns_wall)}**"
          f" | **{fmt_s(lt_fit)}** | **{fmt_ratio(lt_fit, ns_wall)}** |")
        p(f"| whole process, wall (lifetimes: python start, imports {fmt_s(lt['steps_seconds']['import'])},"
          f" read CSV {fmt_s(lt['steps_seconds']['read'])}, fit) | {fmt_s(ns_wall)} | {fmt_s(lt_wall)}"
          f" | {fmt_ratio(lt_wall, ns_wall)} |")
        p(f"| whole process, CPU (user + sys) | {fmt_s(cpu(ns_mid))} | {fmt_s(cpu(lt_proc))}"
          f" | {fmt_ratio(cpu(lt_proc), cpu(ns_mid))} |")
        p(f"| max RSS | {fmt_mib(ns_rss)} | {fmt_mib(lt_proc['max_rss_kib'])}"
          f" | {fmt_ratio(lt_proc['max_rss_kib'], ns_rss)} |")
        ns_opt = (f"{ns_fit.get('termination', '?')}, {ns_fit.get('iterations', '?')} iterations"
                  if ns_fit else "?")
        lt_opt = (f"Nelder-Mead: {opt.get('message', '?')} {opt.get('iterations', '?')} iterations,"
                  f" {opt.get('function_evaluations', '?')} likelihood evaluations" if opt else "?")
        p(f"| optimizer | {ns_opt} | {lt_opt} | |")
        ratio = lt_fit / ns_wall if lt_fit and ns_wall > 0 else None
        if ratio is not None:
            p("")
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            p(f"Issue #4 target (fit at least {TARGET_RATIO:.0f}x faster than lifetimes): **{verdict}**"
              f" ({ratio:.1f}x{'' if args.customers == 100000 else f' at {args.customers:,} customers; the target is stated for 100,000'}).")
    else:
        p("| | northstar |")
        p("|---|---:|")
        p(f"| **fit** (whole process, median of {len(walls)}) | **{fmt_s(ns_wall)}** |")
        p(f"| CPU (user + sys), median run | {fmt_s(cpu(ns_mid))} |")
        p(f"| max RSS | {fmt_mib(ns_rss)} |")
        if ns_fit:
            p(f"| optimizer | {ns_fit.get('termination', '?')}, {ns_fit.get('iterations', '?')} iterations |")
        p("")
        p("(lifetimes not run)")

    # --- fitted parameters side by side ---
    p("")
    lt_params = lt["params"] if lt else None
    if lt_params:
        p("| parameter | true (simulated) | northstar | lifetimes | relative difference |")
        p("|---|---:|---:|---:|---:|")
    else:
        p("| parameter | true (simulated) | northstar |")
        p("|---|---:|---:|")
    for k in PARAM_KEYS:
        t = f"{truth[k]:.6g}" if k in truth else "-"
        n = f"{ns_params[k]:.6g}" if ns_params else "?"
        if lt_params:
            rel = (f"{abs(ns_params[k] - lt_params[k]) / abs(lt_params[k]):.1e}" if ns_params else "-")
            p(f"| {k} | {t} | {n} | {lt_params[k]:.6g} | {rel} |")
        else:
            p(f"| {k} | {t} | {n} |")
    ns_ll_s = f"{ns_ll:.4f}" if ns_ll is not None else "?"
    if lt_params:
        lt_ll = lt["log_likelihood"]
        p(f"| log-likelihood (total, weeks) | | {ns_ll_s} | {lt_ll:.4f} |"
          f" {'-' if ns_ll is None else f'{ns_ll - lt_ll:+.2e} (northstar - lifetimes)'} |")
        p("")
        p("- log-likelihoods: northstar's is the one it reports (`log_likelihood`); lifetimes' is the sum of"
          " its own per-customer log-likelihood (`ParetoNBDFitter._conditional_log_likelihood`) at its fitted"
          " parameters, with recency and T in weeks, as northstar's.")
        if lt.get("northstar_params_log_likelihood") is not None and ns_ll is not None:
            x = lt["northstar_params_log_likelihood"]
            p(f"  lifetimes' formula at northstar's parameters gives {x:.4f} (northstar reports {ns_ll:.4f};"
              f" difference {x - ns_ll:.2e}), so both report the same quantity.")
        p(f"  lifetimes' own objective (`_negative_log_likelihood_`, {lt['objective_rescaled_time']:.4f}) is the"
          f" negative log-likelihood with time rescaled so that max T = 1; it differs from the total in weeks"
          f" by sum(frequency) x log(max T) = {lt['purchases_after_first']:,} x log({lt['max_T']:.4f}).")
    else:
        p(f"| log-likelihood (total, weeks) | | {ns_ll_s} |")
    if data:
        p("")
        p("(data, not compared, northstar: "
          + ", ".join(f"{n} {fmt_s(s['wall_s'])} / {fmt_mib(s['max_rss_kib'])}" for n, s in data.items())
          + ")")

    report = {
        "customers": args.customers,
        "transactions": args.transactions,
        "loadavg_start": loadavg,
        "data_steps": data,
        "northstar_fit_runs": ns_runs,
        "northstar_fit_median_wall_s": ns_wall,
        "northstar_max_rss_kib": ns_rss,
        "northstar_fit": ns_fit,
        "lifetimes_process": lt_proc,
        "lifetimes": lt,
        "ratio_fit_lifetimes_over_northstar": (lt_fit / ns_wall) if lt_fit else None,
        "true_params": truth,
    }
    text = "\n".join(lines) + "\n"
    print(text)
    for stem in ("pnbd_report", f"pnbd_report_{args.customers}"):
        (args.out_dir / f"{stem}.md").write_text(text)
        (args.out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"(saved {args.out_dir / 'pnbd_report.md'} and {args.out_dir / f'pnbd_report_{args.customers}.md'},"
          " with .json)", file=sys.stderr)


if __name__ == "__main__":
    main()
