"""The benchmark's CLV pipeline in Python `lifetimes` 0.11.3.

Same job as northstar's summarize -> fit bgnbd -> fit gg -> clv:

    transactions CSV (customer_id,date,amount)
      -> summary_data_from_transaction_data(freq="W")      RFM in weeks
      -> BetaGeoFitter().fit                                purchases
      -> GammaGammaFitter().fit on frequency > 0            spend
      -> customer_lifetime_value(time=12, discount_rate=0.01, freq="W")
      -> CLV CSV (customer_id,frequency,recency,T,monetary_value,clv)

Each step is timed with time.perf_counter; the times (and the fitted
parameters) are written as JSON to --timings. Run it under /usr/bin/time -v
for the peak memory; bench/run_benchmark.sh does both.
"""

import argparse
import json
import sys
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lifetimes  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

T_IMPORT = time.perf_counter() - T0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("transactions", help="CSV with header customer_id,date,amount")
    ap.add_argument("-o", "--output", required=True, help="CLV CSV to write")
    ap.add_argument("--timings", help="JSON file for step times and fitted parameters")
    ap.add_argument("--observation-end", default="1998-06-30")
    ap.add_argument(
        "--summary-freq",
        choices=["W", "D"],
        default="W",
        help="W (default): lifetimes' weekly summary, which bins dates into calendar weeks, so recency and T "
        "are whole weeks and purchases in one week merge. D: summarise by day and divide recency and T "
        "by 7 (fractional weeks); the models and CLV still run in weeks.",
    )
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--discount-rate", type=float, default=0.01)
    args = ap.parse_args()

    steps = {"import": T_IMPORT}

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        steps[name] = time.perf_counter() - t
        print(f"lifetimes {name:<10} {steps[name]:9.3f} s", file=sys.stderr, flush=True)
        return out

    def read():
        # Dates stay strings here; summary_data_from_transaction_data parses them
        # (that is part of the work, as it is for northstar's summarize).
        return pd.read_csv(args.transactions, dtype={"customer_id": np.int64, "date": str, "amount": np.float64})

    tx = step("read", read)

    def summarize():
        s = summary_data_from_transaction_data(
            tx,
            "customer_id",
            "date",
            monetary_value_col="amount",
            observation_period_end=args.observation_end,
            freq=args.summary_freq,
        )
        if args.summary_freq == "D":
            s["recency"] /= 7.0
            s["T"] /= 7.0
        return s

    rfm = step("summarize", summarize)
    del tx

    bgf = step("fit_bgnbd", lambda: BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"]))
    repeat = rfm[rfm["frequency"] > 0]
    ggf = step("fit_gg", lambda: GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]))

    def clv():
        return ggf.customer_lifetime_value(
            bgf,
            rfm["frequency"],
            rfm["recency"],
            rfm["T"],
            rfm["monetary_value"],
            time=args.months,
            discount_rate=args.discount_rate,
            freq="W",
        )

    values = step("clv", clv)

    def write():
        out = rfm[["frequency", "recency", "T", "monetary_value"]].copy()
        out["frequency"] = out["frequency"].astype(np.int64)
        out["clv"] = values
        out.index.name = "customer_id"
        out.to_csv(args.output)  # floats as shortest round-trip repr

    step("write", write)
    steps["total"] = time.perf_counter() - T0

    if args.timings:
        info = {
            "lifetimes_version": lifetimes.__version__,
            "summary_freq": args.summary_freq,
            "customers": int(len(rfm)),
            "repeat_customers": int(len(repeat)),
            "steps_seconds": steps,
            "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
            "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
        }
        with open(args.timings, "w") as fh:
            json.dump(info, fh, indent=2)
            fh.write("\n")
    print(
        "lifetimes BG/NBD "
        + ", ".join(f"{k}={v:.6g}" for k, v in bgf.params_.items())
        + "; GG "
        + ", ".join(f"{k}={v:.6g}" for k, v in ggf.params_.items()),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
