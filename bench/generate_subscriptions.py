#!/usr/bin/env python3
"""Generates a synthetic subscriptions CSV for `northstar saas metrics` benchmarks and checks.

Pure Python standard library; the same seed gives the same file. Each customer starts on a
uniformly drawn day of the horizon on a monthly, annual, quarterly, weekly or free plan, then
moves through priced periods: seat changes, upgrades, downgrades and plan switches (one row ends
and the next starts on the same date), cancellations, and reactivations after a gap; one in ten
customers also buys a seat-based add-on that runs alongside. About five rows per customer on
average.

    python3 bench/generate_subscriptions.py --customers 1000000 -o bench/out/subs.csv
    python3 bench/generate_subscriptions.py --customers 300 --seed 7 -o small.csv

Columns: customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity
"""

import argparse
import datetime
import random
import sys

# (plan, amount per unit per interval, interval, interval_count, seat-based)
PLANS = [
    ("free", 0, "month", 1, False),
    ("starter-monthly", 19, "month", 1, False),
    ("pro-monthly", 49, "month", 1, False),
    ("team-monthly", 12, "month", 1, True),
    ("business-monthly", 199, "month", 1, False),
    ("pro-annual", 490, "year", 1, False),
    ("team-annual", 120, "year", 1, True),
    ("pro-quarterly", 135, "month", 3, False),
    ("team-quarterly", 33, "month", 3, True),
    ("lite-weekly", 5, "week", 1, False),
    ("pro-biannual", 900, "year", 2, False),
    ("day-pass", 2, "day", 1, False),
]
# Starting plan weights: monthly plans dominate, then annual, quarterly, weekly, free.
START_WEIGHTS = [10, 18, 22, 12, 3, 10, 6, 7, 4, 5, 3, 1]
DISCOUNTS = [1.0] * 8 + [0.9, 0.8]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--start", default="2022-01-01", help="first day of the horizon")
    parser.add_argument("--months", type=int, default=36, help="horizon length in months")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("-o", "--output", default="-", help="output CSV (default: stdout)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    start = datetime.date.fromisoformat(args.start).toordinal()
    y, m = divmod(datetime.date.fromordinal(start).month - 1 + args.months, 12)
    end = datetime.date(datetime.date.fromordinal(start).year + y, m + 1, 1).toordinal()
    span = end - start
    iso = {}

    def day(ordinal):
        s = iso.get(ordinal)
        if s is None:
            s = datetime.date.fromordinal(ordinal).isoformat()
            iso[ordinal] = s
        return s

    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    write = out.write
    write("customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n")
    rows = 0
    n_plans = len(PLANS)
    for c in range(1, args.customers + 1):
        cid = f"C{c:07d}"
        t = start + int(rng.random() * span)
        plan = rng.choices(range(n_plans), START_WEIGHTS)[0]
        seats = rng.randint(1, 12) if PLANS[plan][4] else 1
        discount = rng.choice(DISCOUNTS)
        sub = 1
        if rng.random() < 0.10:
            # a concurrent add-on subscription
            a_start = start + int(rng.random() * span)
            a_stop = a_start + int(rng.expovariate(1 / 200)) + 1
            a_end = day(a_stop) if a_stop < end else ""
            write(f"{cid},A{c:07d},addon-seats,{day(a_start)},{a_end},10,month,1,{rng.randint(1, 5)}\n")
            rows += 1
        while True:
            name, price, interval, count, seat_based = PLANS[plan]
            # Length of this priced period, in days: mostly a few months.
            length = int(rng.expovariate(1 / 55)) + 1
            if rng.random() < 0.03:
                length = rng.randint(1, 20)  # short trial-like rows, often within one month
            stop = t + length
            amount = round(price * discount, 2)
            qty = str(seats) if seat_based or rng.random() < 0.5 else ""
            if stop >= end or rng.random() < 0.03:
                write(f"{cid},S{c:07d}-{sub},{name},{day(t)},,{amount:g},{interval},{count},{qty}\n")
                rows += 1
                break
            write(f"{cid},S{c:07d}-{sub},{name},{day(t)},{day(stop)},{amount:g},{interval},{count},{qty}\n")
            rows += 1
            r = rng.random()
            if r < 0.30:
                # seat change on a seat-based plan, otherwise an upgrade or downgrade
                if seat_based:
                    seats = max(1, seats + rng.choice([-3, -2, -1, 1, 1, 2, 3, 5]))
                else:
                    plan = min(n_plans - 1, max(0, plan + rng.choice([-2, -1, 1, 1, 2])))
                t = stop
            elif r < 0.55:
                plan = rng.choices(range(n_plans), START_WEIGHTS)[0]
                seats = rng.randint(1, 12) if PLANS[plan][4] else 1
                t = stop
            elif r < 0.92:
                # cancel, then come back after a gap
                t = stop + int(rng.expovariate(1 / 60)) + 1
                sub += 1
                if t >= end:
                    break
            else:
                break  # cancelled for good
    if out is not sys.stdout:
        out.close()
    print(f"{args.customers} customers, {rows} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
