#!/usr/bin/env python3
"""An independent, deliberately naive implementation of the SaaS metric definitions (issue #5),
used to make the golden file that `crates/northstar/tests/saas_cli.rs` compares northstar with.

It shares no code or shortcut with the Rust implementation: dates are `datetime.date`, a row is
active on day d when start <= d and (end is empty or d < end), every customer's MRR is evaluated
at every month-end by scanning all of their rows, and every sum is a plain float sum.

    python3 bench/reference/saas_reference.py SUBS.csv [--gross-margin 0.8] [--spend SPEND.csv] > expected.json

Prints {"metrics": {"months": [...]}, "cohorts_logos": [...], "cohorts_mrr": [...]} with the same
keys as `northstar saas metrics --json` and `northstar saas cohorts --json`.
"""

import argparse
import calendar
import csv
import datetime
import json
import sys

MONTHS_PER_INTERVAL = {"day": 1 / 30.4375, "week": 7 / 30.4375, "month": 1.0, "year": 12.0}


def month_end(y, m):
    return datetime.date(y, m, calendar.monthrange(y, m)[1])


def next_month(y, m):
    return (y + 1, 1) if m == 12 else (y, m + 1)


def prev_month(y, m):
    return (y - 1, 12) if m == 1 else (y, m - 1)


def div(a, b):
    return None if b == 0 else a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("subscriptions")
    ap.add_argument("--gross-margin", type=float, default=1.0)
    ap.add_argument("--spend")
    args = ap.parse_args()
    gm = args.gross_margin

    rows = {}
    starts = []
    with open(args.subscriptions, newline="") as f:
        for r in csv.DictReader(f):
            start = datetime.date.fromisoformat(r["start_date"])
            end = datetime.date.fromisoformat(r["end_date"]) if r["end_date"] else None
            count = int(r["interval_count"]) if r.get("interval_count") else 1
            qty = float(r["quantity"]) if r.get("quantity") else 1.0
            mrr = float(r["amount"]) * qty / (count * MONTHS_PER_INTERVAL[r["interval"]])
            rows.setdefault(r["customer_id"], []).append((start, end, mrr))
            starts.append(start)

    def mrr_at(cust_rows, d):
        return sum(m for (s, e, m) in cust_rows if s <= d and (e is None or d < e))

    first = min(starts)
    last = max(starts)
    # every month from the earliest start to the month of the latest start
    months = []
    ym = (first.year, first.month)
    while ym <= (last.year, last.month):
        months.append(ym)
        ym = next_month(*ym)
    snap = {ym: {c: mrr_at(rs, month_end(*ym)) for c, rs in rows.items()} for ym in months}
    first_mrr = next(ym for ym in months if any(v > 0 for v in snap[ym].values()))
    zero = {c: 0.0 for c in rows}

    def at(ym):
        return snap.get(ym, zero)

    out = []
    churn_rates = {}
    for ym in months:
        if ym < first_mrr:
            continue
        prev = at(prev_month(*ym))
        cur = at(ym)
        earlier = [m for m in months if m < prev_month(*ym)] + [prev_month(*ym)]
        new = exp = con = chu = rea = 0.0
        n_new = n_chu = n_rea = 0
        for c in rows:
            p, q = prev[c], cur[c]
            if p == 0 < q:
                had = any(at(m)[c] > 0 for m in earlier)
                if had:
                    rea += q
                    n_rea += 1
                else:
                    new += q
                    n_new += 1
            elif p > 0 == q:
                chu += p
                n_chu += 1
            elif 0 < p < q:
                exp += q - p
            elif 0 < q < p:
                con += p - q
        mrr = sum(cur.values())
        prev_mrr = sum(prev.values())
        customers = sum(1 for v in cur.values() if v > 0)
        prev_customers = sum(1 for v in prev.values() if v > 0)
        arpa = div(mrr, customers)
        churn_rates[ym] = div(n_chu, prev_customers)
        ym12 = ym
        for _ in range(12):
            ym12 = prev_month(*ym12)
        base = at(ym12)
        base_mrr = sum(v for v in base.values() if v > 0)
        retained = sum(cur[c] for c in rows if base[c] > 0)
        window = []
        w = ym
        for _ in range(6):
            if churn_rates.get(w) is not None:
                window.append(churn_rates[w])
            w = prev_month(*w)
        mean = sum(window) / len(window) if window else None
        ltv = None if arpa is None or not mean else arpa * gm / mean
        out.append({
            "month": "%04d-%02d" % ym,
            "mrr": mrr,
            "arr": 12 * mrr,
            "customers": customers,
            "arpa": arpa,
            "new_mrr": new,
            "expansion_mrr": exp,
            "contraction_mrr": con,
            "churned_mrr": chu,
            "reactivation_mrr": rea,
            "new_customers": n_new,
            "churned_customers": n_chu,
            "reactivated_customers": n_rea,
            "logo_churn_rate": churn_rates[ym],
            "gross_mrr_churn_rate": div(chu + con, prev_mrr),
            "net_mrr_churn_rate": div(chu + con - exp - rea, prev_mrr),
            "nrr": div(prev_mrr + exp - con - chu, prev_mrr),
            "grr": div(prev_mrr - con - chu, prev_mrr),
            "nrr_12m": div(retained, base_mrr),
            "quick_ratio": div(new + exp + rea, chu + con),
            "ltv": ltv,
        })

    if args.spend:
        spend = {}
        with open(args.spend, newline="") as f:
            for r in csv.DictReader(f):
                spend[r["month"]] = float(r["spend"])
        for m in out:
            s = spend.get(m["month"])
            cac = None if s is None or m["new_customers"] == 0 else s / m["new_customers"]
            m["cac"] = cac
            m["ltv_cac"] = None if cac is None or m["ltv"] is None or cac == 0 else m["ltv"] / cac
            margin = None if m["arpa"] is None else m["arpa"] * gm
            m["payback_months"] = None if cac is None or not margin else cac / margin

    # cohorts: first month-end with MRR
    cohort_of = {}
    for ym in months:
        for c, v in snap[ym].items():
            if v > 0 and c not in cohort_of:
                cohort_of[c] = ym
    cohorts_logos, cohorts_mrr = [], []
    for ym in months:
        members = [c for c, k in cohort_of.items() if k == ym]
        if not members:
            continue
        size = len(members)
        base = sum(snap[ym][c] for c in members)
        logos, mrrs = [], []
        k = ym
        while k <= months[-1]:
            logos.append(sum(1 for c in members if snap[k][c] > 0) / size)
            mrrs.append(sum(snap[k][c] for c in members) / base)
            k = next_month(*k)
        name = "%04d-%02d" % ym
        cohorts_logos.append({"cohort": name, "size": size, "mrr": base, "retention": logos})
        cohorts_mrr.append({"cohort": name, "size": size, "mrr": base, "retention": mrrs})

    json.dump({"metrics": {"months": out}, "cohorts_logos": cohorts_logos,
               "cohorts_mrr": cohorts_mrr}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
