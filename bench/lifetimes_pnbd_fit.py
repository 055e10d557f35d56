"""The lifetimes half of the Pareto/NBD fit benchmark (bench/run_pnbd_benchmark.sh).

Reads an RFM table written by `northstar summarize` (customer_id, frequency,
recency, T[, monetary_value]; recency and T in weeks) and fits Python
`lifetimes` 0.11.3's Pareto/NBD model to it, with lifetimes' defaults:

    ParetoNBDFitter().fit(frequency, recency, T)

(Nelder-Mead, tol=1e-4, maxiter=2000, one start drawn from N(1, 0.05) per
parameter; --seed seeds numpy first so that start is the same in every run).

Only the fit call is timed for the comparison; import and read times and the
time from the first line of this script to the end of the fit are reported
too. Run it under /usr/bin/time -v for the process's wall time and peak memory
(the script also records its own ru_maxrss).

The log-likelihood: lifetimes minimises the negative log-likelihood in
rescaled time (T divided by its maximum), which differs from the likelihood in
weeks by sum(frequency) * log(max T). northstar reports the total
log-likelihood in the RFM table's own unit, so after the fit (untimed) this
script sums lifetimes' own per-customer log-likelihood
(ParetoNBDFitter._conditional_log_likelihood) at the fitted parameters in
weeks, and, with --northstar-fit, at northstar's parameters too; both are
written to the JSON output.
"""

import argparse
import json
import resource
import sys
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402

import lifetimes  # noqa: E402
import lifetimes.fitters.pareto_nbd_fitter as pnbd_module  # noqa: E402
from lifetimes import ParetoNBDFitter  # noqa: E402

T_IMPORT = time.perf_counter() - T0

PARAM_KEYS = ("r", "alpha", "s", "beta")


def total_loglik(params, frequency, recency, T):
    """Sum of lifetimes' per-customer Pareto/NBD log-likelihood, in the data's time unit."""
    ll = ParetoNBDFitter._conditional_log_likelihood(tuple(params), frequency, recency, T)
    return float(np.sum(ll))


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rfm", help="RFM CSV with columns frequency, recency, T (weeks)")
    ap.add_argument("--json", dest="json_out", help="write timings, parameters and log-likelihoods here")
    ap.add_argument(
        "--seed",
        type=int,
        default=42,
        help="numpy seed for lifetimes' random starting point (default 42; -1: leave numpy unseeded)",
    )
    ap.add_argument(
        "--northstar-fit",
        help="`northstar fit pnbd --json` output; its parameters are also scored with lifetimes' likelihood",
    )
    args = ap.parse_args()

    steps = {"import": T_IMPORT}

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        steps[name] = time.perf_counter() - t
        print(f"lifetimes {name:<8} {steps[name]:9.3f} s", file=sys.stderr, flush=True)
        return out

    rfm = step("read", lambda: pd.read_csv(args.rfm, usecols=["frequency", "recency", "T"]))
    frequency, recency, T = rfm["frequency"], rfm["recency"], rfm["T"]

    if args.seed >= 0:
        np.random.seed(args.seed)

    # Keep scipy's OptimizeResult (iterations, evaluations, status), which
    # ParetoNBDFitter._fit throws away: one extra Python call around the
    # single minimize() call, nothing inside the optimisation loop.
    results = []
    scipy_minimize = pnbd_module.minimize

    def minimize_keeping_result(*a, **kw):
        res = scipy_minimize(*a, **kw)
        results.append(res)
        return res

    pnbd_module.minimize = minimize_keeping_result

    fitter = step("fit", lambda: ParetoNBDFitter().fit(frequency, recency, T))
    t_to_fit_end = time.perf_counter() - T0
    pnbd_module.minimize = scipy_minimize

    params = {k: float(fitter.params_[k]) for k in PARAM_KEYS}
    x, tx, age = frequency.to_numpy(np.int64), recency.to_numpy(float), T.to_numpy(float)
    ll = step("loglik", lambda: total_loglik([params[k] for k in PARAM_KEYS], x, tx, age))

    info = {
        "lifetimes_version": lifetimes.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "pandas_version": pd.__version__,
        "python_version": sys.version.split()[0],
        "customers": int(len(rfm)),
        "repeat_customers": int((x > 0).sum()),
        "purchases_after_first": int(x.sum()),
        "seed": args.seed if args.seed >= 0 else None,
        "steps_seconds": steps,
        "start_to_fit_end_seconds": t_to_fit_end,
        "params": params,
        "log_likelihood": ll,
        # lifetimes' own objective: negative log-likelihood with T rescaled to max 1.
        "objective_rescaled_time": float(fitter._negative_log_likelihood_),
        "max_T": float(age.max()),
        "max_rss_kib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if results:
        res = results[-1]
        info["optimizer"] = {
            "method": "Nelder-Mead",
            "success": bool(res.success),
            "status": int(res.status),
            "message": str(res.message),
            "iterations": int(res.nit),
            "function_evaluations": int(res.nfev),
        }
    if args.northstar_fit:
        with open(args.northstar_fit) as fh:
            ns_params = find_params(json.load(fh))
        if ns_params:
            info["northstar_params_log_likelihood"] = total_loglik([ns_params[k] for k in PARAM_KEYS], x, tx, age)

    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(info, fh, indent=2)
            fh.write("\n")
    opt = info.get("optimizer", {})
    print(
        "lifetimes Pareto/NBD "
        + ", ".join(f"{k}={v:.6g}" for k, v in params.items())
        + f"; log-likelihood {ll:.4f}; {opt.get('iterations', '?')} iterations,"
        f" {opt.get('function_evaluations', '?')} evaluations, {opt.get('message', '')}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
