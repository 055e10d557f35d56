"""Holdout MAE of lifetimes 0.11.3's BG/NBD, Pareto/NBD and MBG/NBD on the CDNOW sample, the
reference for `northstar evaluate` (crates/northstar/tests/fixtures/lifetimes_cdnow_holdout.json).

Run with the benchmark venv: bench/.venv/bin/python bench/reference/lifetimes_cdnow_holdout.py
"""
import json
import pathlib

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data

ROOT = pathlib.Path(__file__).resolve().parents[2]
raw = pd.read_csv(
    ROOT / "data" / "CDNOW_sample.txt",
    sep=r"\s+",
    header=None,
    names=["master", "customer_id", "date", "cds", "amount"],
    dtype={"customer_id": str, "date": str},
)
raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
# Daily summary, then weeks: the same semantics as northstar (whole days / 7).
data = calibration_and_holdout_data(
    raw, "customer_id", "date", calibration_period_end="1997-09-30",
    observation_period_end="1998-06-30", freq="D",
)
for col in ["recency_cal", "T_cal", "duration_holdout"]:
    data[col] = data[col] / 7.0

out = {"lifetimes_version": lifetimes.__version__, "customers": len(data),
       "holdout_actual": float(data["frequency_holdout"].sum()), "models": {}}
for name, fitter in [("bgnbd", BetaGeoFitter()), ("pnbd", ParetoNBDFitter()), ("mbgnbd", ModifiedBetaGeoFitter())]:
    fitter.fit(data["frequency_cal"], data["recency_cal"], data["T_cal"])
    predicted = fitter.conditional_expected_number_of_purchases_up_to_time(
        data["duration_holdout"], data["frequency_cal"], data["recency_cal"], data["T_cal"])
    err = predicted - data["frequency_holdout"]
    out["models"][name] = {
        "params": {k: float(v) for k, v in fitter.params_.items()},
        "holdout_predicted": float(predicted.sum()),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
    }
path = ROOT / "crates" / "northstar" / "tests" / "fixtures" / "lifetimes_cdnow_holdout.json"
path.write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out, indent=2))
