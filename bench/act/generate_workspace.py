#!/usr/bin/env python3
"""Synthetic workspace data for `northstar import` / `refresh`: transactions, usage events and a
customers file, seeded and reproducible.

  generate_workspace.py --customers 100000 --events 10000000 --as-of 2024-06-30 -o DIR
      DIR/transactions.csv  customer_id,date,amount      (about 3 purchases per customer; each
                            customer drops out after an exponential lifetime, mean one year)
      DIR/events.csv        customer_id,user_id,timestamp,event,feature,session_id,duration_seconds
                            (the 90 days up to --as-of, sorted by time; explicit and implicit
                            sessions; limit_hit and locked_feature_click events; some accounts
                            declining or gone quiet)
      DIR/customers.csv     customer_id,plan,nps,open_tickets

  generate_workspace.py --sample -o data
      data/sample_transactions.csv and data/sample_customers.csv for the 20 accounts of
      data/sample_events.csv (the README's "Acting on CLV" example): busier accounts buy more.
"""
import argparse
import collections
import csv
import datetime as dt
import os
import random

FEATURES = ["dashboards", "exports", "alerts", "forecasting", "api", "sso", "audit", "reports"]
EVENTS = ["page_view", "click", "search", "save", "share", "use_feature"]
PLANS = ["starter", "team", "business"]


def purchases(rng, first, last, per_year, mean_amount):
    """Purchase dates of one customer between first and last (Poisson arrivals)."""
    days = (last - first).days
    t, out = 0.0, [first]
    while per_year > 0:
        t += rng.expovariate(per_year / 365.0)
        if t > days:
            break
        out.append(first + dt.timedelta(days=int(t)))
    return [(d, round(rng.gammavariate(4.0, mean_amount / 4.0), 2)) for d in out]


def write_customers(path, rng, ids):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "plan", "nps", "open_tickets"])
        for cid in ids:
            w.writerow([cid, rng.choice(PLANS), rng.randint(0, 10), rng.choice([0, 0, 0, 1, 2, 5])])


def sample(out_dir):
    rng = random.Random(7)
    counts = collections.Counter()
    with open(os.path.join(out_dir, "sample_events.csv")) as f:
        for row in csv.DictReader(f):
            counts[row["customer_id"]] += 1
    ids = sorted(counts)
    last = dt.date(2024, 6, 30)
    with open(os.path.join(out_dir, "sample_transactions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "date", "amount"])
        rows = []
        for cid in ids:
            first = dt.date(2023, 1, 2) + dt.timedelta(days=rng.randint(0, 300))
            per_year = 2.0 + 10.0 * min(counts[cid], 600) / 600.0
            for day, amount in purchases(rng, first, last, per_year, 80.0 + counts[cid] / 10.0):
                rows.append((day, cid, amount))
        for day, cid, amount in sorted(rows):
            w.writerow([cid, day.isoformat(), f"{amount:.2f}"])
    write_customers(os.path.join(out_dir, "sample_customers.csv"), rng, ids)


def large(args):
    rng = random.Random(args.seed)
    as_of = dt.date.fromisoformat(args.as_of)
    os.makedirs(args.output, exist_ok=True)
    ids = [f"c{i:07d}" for i in range(args.customers)]
    with open(os.path.join(args.output, "transactions.csv"), "w") as f:
        f.write("customer_id,date,amount\n")
        start = as_of - dt.timedelta(days=540)
        for cid in ids:
            first = start + dt.timedelta(days=rng.randint(0, 500))
            # Customers drop out after an exponential lifetime (mean a year), as in BG/NBD.
            gone = min(as_of, first + dt.timedelta(days=int(rng.expovariate(1 / 365.0))))
            for day, amount in purchases(rng, first, gone, rng.choice([0.5, 1, 2, 4, 8]), 60.0):
                f.write(f"{cid},{day.isoformat()},{amount:.2f}\n")
    write_customers(os.path.join(args.output, "customers.csv"), rng, ids)

    # Events: 90 days before as-of, spread over accounts with skewed activity; written in time
    # order, day by day.
    users = [[f"{cid}-u{j}" for j in range(1 + rng.randrange(4))] for cid in ids]
    weight = [rng.paretovariate(1.5) for _ in ids]
    declining = [rng.random() < 0.2 for _ in ids]
    total_w = sum(weight)
    days = 90
    first_day = as_of - dt.timedelta(days=days - 1)
    # Declining accounts skip part of their events; aim the total at --events.
    per_day = int(args.events / days / 0.9)
    cum, acc = [], 0.0
    for w in weight:
        acc += w / total_w
        cum.append(acc)
    import bisect

    with open(os.path.join(args.output, "events.csv"), "w") as f:
        f.write("customer_id,user_id,timestamp,event,feature,session_id,duration_seconds\n")
        for d in range(days):
            day = first_day + dt.timedelta(days=d)
            base = dt.datetime(day.year, day.month, day.day)
            lines = []
            for _ in range(per_day):
                i = min(bisect.bisect_left(cum, rng.random()), len(ids) - 1)
                if declining[i] and rng.random() < d / days:
                    continue
                user = rng.choice(users[i])
                sec = rng.randrange(86400)
                r = rng.random()
                name = "limit_hit" if r < 0.002 else "locked_feature_click" if r < 0.004 else rng.choice(EVENTS)
                feature = rng.choice(FEATURES) if name in ("use_feature", "locked_feature_click") else ""
                session = f"{user}-{d}-{sec // 3600}" if rng.random() < 0.5 else ""
                duration = str(rng.randrange(1, 600)) if session else ""
                lines.append((sec, f"{ids[i]},{user},{(base + dt.timedelta(seconds=sec)).isoformat()}Z,{name},{feature},{session},{duration}\n"))
            lines.sort()
            f.writelines(line for _, line in lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", action="store_true")
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--as-of", default="2024-06-30")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args()
    if args.sample:
        sample(args.output)
    else:
        large(args)


if __name__ == "__main__":
    main()
