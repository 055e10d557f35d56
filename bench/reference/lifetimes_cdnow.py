"""Golden reference values from Python `lifetimes` 0.11.3 on the CDNOW sample.

Fits BG/NBD and Gamma-Gamma to the 39-week CDNOW calibration summary
(data/cdnow_customers_summary_with_transactions.csv) with lifetimes 0.11.3 and
writes, for northstar's tests:

* crates/northstar/tests/fixtures/lifetimes_cdnow_reference.json
  fitted parameters and log-likelihoods, population and per-customer
  predictions, both with lifetimes' own fit and with the published
  Fader-Hardie-Lee parameters (key "published_params");
* crates/northstar/tests/fixtures/lifetimes_cdnow_clv.csv
  one row per customer: P(alive), expected purchases in 52 weeks, expected
  spend per purchase and 12-month CLV, all from lifetimes' own fit.

Run with the bench venv (see bench/reference/README.md):

    bench/setup_venv.sh
    bench/.venv/bin/python bench/reference/lifetimes_cdnow.py
"""

import argparse
import csv
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter

EXPECTED_LIFETIMES_VERSION = "0.11.3"

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "cdnow_customers_summary_with_transactions.csv"
FIXTURES = REPO / "crates" / "northstar" / "tests" / "fixtures"

# Fader, Hardie & Lee (2005) "Counting your customers the easy way", Marketing
# Science 24(2): BG/NBD estimates for the CDNOW sample, times in weeks.
PUBLISHED_BGNBD = dict(r=0.2425945, alpha=4.4136019, a=0.7929199, b=2.4258881)
# Fader, Hardie & Lee (2005) "RFM and CLV", JMR 42(4) / Hardie's note 025:
# Gamma-Gamma estimates for the same customers' mean repeat spend.
PUBLISHED_GG = dict(p=6.2488, q=3.7446, v=15.4478)

# Population predictions E[X(t)] for a new customer, at these ages in weeks.
NEW_CUSTOMER_TIMES = [1.0, 3.0, 32.0, 78.0]
# Example customers used throughout the papers and the lifetimes docs.
CUSTOMER_A = dict(frequency=2, recency=30.43, T=38.86, t=39.0)  # customer ID 1
CUSTOMER_B = dict(frequency=26, recency=30.857143, T=31.0, t=52.0)
# CLV settings: lifetimes' customer_lifetime_value defaults, time in weeks.
CLV_MONTHS = 12
CLV_DISCOUNT = 0.01
CLV_FREQ = "W"
HORIZON_WEEKS = 52.0


def load_cdnow():
    df = pd.read_csv(DATA)
    df = df.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    df = df.set_index("ID")
    assert len(df) == 2357, len(df)
    return df


def bgnbd_total_log_likelihood(fitter, params, df):
    """Total BG/NBD log-likelihood on the data in its own time unit (weeks).

    lifetimes fits on time scaled by 1/max(T) and keeps the *mean* negative
    log-likelihood of that scaled problem in ``_negative_log_likelihood_``; it
    differs from the weekly log-likelihood by sum(x) * log(scale). Here the
    same likelihood function is evaluated on unscaled weeks and summed.
    """
    log_params = np.log([params["r"], params["alpha"], params["a"], params["b"]])
    freq = df["frequency"].to_numpy().astype(int)
    weights = np.ones_like(freq)
    mean_nll = fitter._negative_log_likelihood(
        log_params, freq, df["recency"].to_numpy(), df["T"].to_numpy(), weights, 0.0
    )
    return -float(mean_nll) * len(df)


def gg_total_log_likelihood(fitter, params, df):
    log_params = np.log([params["p"], params["q"], params["v"]])
    freq = df["frequency"].to_numpy().astype(float)
    weights = np.ones_like(freq)
    mean_nll = fitter._negative_log_likelihood(
        log_params, freq, df["monetary_value"].to_numpy().astype(float), weights, 0.0
    )
    return -float(mean_nll) * len(df)


def f(x):
    """A numpy scalar or one-element array as a plain float."""
    arr = np.asarray(x, dtype=float)
    assert arr.size == 1, arr
    return float(arr.reshape(-1)[0])


def predictions(bgf, ggf, df):
    """The reference predictions for one (BG/NBD, GG) parameter set."""
    out = {}
    out["expected_purchases_new_customer"] = [
        {"t": t, "value": f(bgf.expected_number_of_purchases_up_to_time(t))} for t in NEW_CUSTOMER_TIMES
    ]
    out["probability_of_n_purchases_up_to_time"] = [
        {"t": 39.0, "n": 0, "value": f(bgf.probability_of_n_purchases_up_to_time(39.0, 0))}
    ]
    customers = []
    for c in (CUSTOMER_A, CUSTOMER_B):
        x, tx, T, t = c["frequency"], c["recency"], c["T"], c["t"]
        customers.append(
            {
                "frequency": x,
                "recency": tx,
                "T": T,
                "t": t,
                "expected_purchases": f(bgf.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)),
                "probability_alive": f(bgf.conditional_probability_alive(x, tx, T)),
            }
        )
    out["customers"] = customers

    # Gamma-Gamma: the population mean spend and the first ten customers.
    p, q, v = (float(ggf.params_[k]) for k in ("p", "q", "v"))
    out["gg_population_mean_spend"] = v * p / (q - 1.0)
    head = df.head(10)
    spend = ggf.conditional_expected_average_profit(head["frequency"], head["monetary_value"])
    clv = ggf.customer_lifetime_value(
        bgf,
        head["frequency"],
        head["recency"],
        head["T"],
        head["monetary_value"],
        time=CLV_MONTHS,
        discount_rate=CLV_DISCOUNT,
        freq=CLV_FREQ,
    )
    out["first_customers"] = [
        {
            "customer_id": int(cid),
            "frequency": int(row["frequency"]),
            "recency": float(row["recency"]),
            "T": float(row["T"]),
            "monetary_value": float(row["monetary_value"]),
            "expected_spend": float(spend.loc[cid]),
            "clv": float(clv.loc[cid]),
        }
        for cid, row in head.iterrows()
    ]
    return out


def with_params(fitter_cls, params):
    fitter = fitter_cls(penalizer_coef=0.0)
    # lifetimes 0.11.3 reads parameters only through `params_` (_unload_params).
    fitter.params_ = pd.Series(params, dtype=float)
    if isinstance(fitter, BetaGeoFitter):
        # fit() also binds `predict`, which customer_lifetime_value calls.
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


def write_clv_csv(path, bgf, ggf, df):
    freq, rec, T, m = df["frequency"], df["recency"], df["T"], df["monetary_value"]
    p_alive = bgf.conditional_probability_alive(freq.to_numpy(), rec.to_numpy(), T.to_numpy())
    exp52 = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON_WEEKS, freq, rec, T)
    spend = ggf.conditional_expected_average_profit(freq, m)
    clv = ggf.customer_lifetime_value(
        bgf, freq, rec, T, m, time=CLV_MONTHS, discount_rate=CLV_DISCOUNT, freq=CLV_FREQ
    )
    exp52 = np.asarray(exp52, dtype=float)
    spend = np.asarray(spend, dtype=float)
    clv = np.asarray(clv, dtype=float)
    for name, col in (("p_alive", p_alive), ("expected_purchases_52", exp52), ("expected_spend", spend), ("clv", clv)):
        assert np.all(np.isfinite(col)), name
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            ["customer_id", "frequency", "recency", "T", "monetary_value",
             "p_alive", "expected_purchases_52", "expected_spend", "clv"]
        )
        for i, cid in enumerate(df.index):
            # repr() is the shortest string that reads back as the same double.
            w.writerow(
                [int(cid), int(freq.iloc[i]), repr(float(rec.iloc[i])), repr(float(T.iloc[i])),
                 repr(float(m.iloc[i])), repr(float(p_alive[i])), repr(float(exp52[i])),
                 repr(float(spend[i])), repr(float(clv[i]))]
            )


def sanity_check(ref, ggf, df):
    """Warn (and fail the run) if lifetimes' fit is far from the papers' values."""
    problems = []
    fitted = ref["bgnbd"]["params"]
    for k, want in PUBLISHED_BGNBD.items():
        if abs(fitted[k] / want - 1) > 1e-3:
            problems.append(f"BG/NBD {k}={fitted[k]!r}, published {want}")
    fitted = ref["gamma_gamma"]["params"]
    for k, want in PUBLISHED_GG.items():
        if abs(fitted[k] / want - 1) > 1e-2:
            problems.append(f"GG {k}={fitted[k]!r}, published {want}")
    want_spend = [24.66, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    got = [c["expected_spend"] for c in ref["predictions"]["first_customers"]]
    for i, (g, w) in enumerate(zip(got, want_spend)):
        if abs(g - w) > 0.006:
            problems.append(f"expected spend of customer {i + 1} = {g:.4f}, documented {w}")
    if abs(ref["bgnbd"]["log_likelihood"] - (-9582.4)) > 0.1:
        problems.append(f"BG/NBD LL {ref['bgnbd']['log_likelihood']!r}, published -9582.4")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=FIXTURES, help="where to write the fixtures")
    args = ap.parse_args()

    if lifetimes.__version__ != EXPECTED_LIFETIMES_VERSION:
        sys.exit(f"need lifetimes {EXPECTED_LIFETIMES_VERSION}, found {lifetimes.__version__}; run bench/setup_venv.sh")

    df = load_cdnow()
    n = len(df)
    repeat = df[df["frequency"] > 0]

    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])

    bg_params = {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")}
    gg_params = {k: float(ggf.params_[k]) for k in ("p", "q", "v")}
    bg_ll = bgnbd_total_log_likelihood(bgf, bg_params, df)
    gg_ll = gg_total_log_likelihood(ggf, gg_params, repeat)
    # Cross-check of the GG total against lifetimes' stored mean (no time
    # scaling in GG, so they must agree).
    gg_ll_stored = -float(ggf._negative_log_likelihood_) * len(repeat)
    assert abs(gg_ll - gg_ll_stored) < 1e-6 * abs(gg_ll), (gg_ll, gg_ll_stored)

    ref = {
        "source": "Python lifetimes, fitted on data/cdnow_customers_summary_with_transactions.csv "
        "by bench/reference/lifetimes_cdnow.py",
        "lifetimes_version": lifetimes.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "pandas_version": pd.__version__,
        "python_version": platform.python_version(),
        "time_unit": "week",
        "n_customers": n,
        "n_repeat_customers": len(repeat),
        "bgnbd": {
            "params": bg_params,
            "log_likelihood": bg_ll,
            "log_likelihood_note": "total over all customers, times in weeks; lifetimes' own "
            "_negative_log_likelihood_ is the mean over customers of the problem with time scaled by 1/max(T)",
            "lifetimes_internal_mean_negative_log_likelihood_scaled": float(bgf._negative_log_likelihood_),
            "standard_errors": {k: float(v) for k, v in bgf.standard_errors_.items()},
        },
        "gamma_gamma": {
            "params": gg_params,
            "log_likelihood": gg_ll,
            "log_likelihood_note": "total over customers with frequency > 0",
            "standard_errors": {k: float(v) for k, v in ggf.standard_errors_.items()},
        },
        "clv_settings": {
            "months": CLV_MONTHS,
            "discount_rate_monthly": CLV_DISCOUNT,
            "freq": CLV_FREQ,
            "weeks_per_month": 4.345,
        },
        "predictions": predictions(bgf, ggf, df),
    }

    pub_bgf = with_params(BetaGeoFitter, PUBLISHED_BGNBD)
    pub_ggf = with_params(GammaGammaFitter, PUBLISHED_GG)
    ref["published_params"] = {
        "source": "Fader, Hardie & Lee (2005), Marketing Science 24(2) (BG/NBD) and JMR 42(4) (Gamma-Gamma); "
        "values computed by lifetimes with these parameters set, not fitted",
        "bgnbd": {"params": PUBLISHED_BGNBD, "log_likelihood": bgnbd_total_log_likelihood(pub_bgf, PUBLISHED_BGNBD, df)},
        "gamma_gamma": {"params": PUBLISHED_GG, "log_likelihood": gg_total_log_likelihood(pub_ggf, PUBLISHED_GG, repeat)},
        "predictions": predictions(pub_bgf, pub_ggf, df),
    }

    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.out_dir / "lifetimes_cdnow_reference.json"
    csv_path = args.out_dir / "lifetimes_cdnow_clv.csv"
    with open(json_path, "w") as fh:
        json.dump(ref, fh, indent=2, allow_nan=False)
        fh.write("\n")
    write_clv_csv(csv_path, bgf, ggf, df)
    print(f"wrote {json_path}")
    print(f"wrote {csv_path}")

    print(f"BG/NBD  {bg_params}  LL={bg_ll:.4f}")
    print(f"GG      {gg_params}  LL={gg_ll:.4f}")
    problems = sanity_check(ref, ggf, df)
    for p in problems:
        print(f"MISMATCH: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
