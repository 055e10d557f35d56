#!/usr/bin/env python3
"""Checks `northstar engagement --json` against an independent pure-Python implementation.

Reads the events CSV with the standard library, computes every figure straight from the
definitions of issue 6 section 2 (a user is the pair customer_id, user_id), runs northstar on
the same file, and compares every figure: counts exactly, ratios within 1e-9. Prints the
comparison and northstar's wall time; exits 1 on any mismatch.

    cargo build --release -p northstar
    python3 bench/engagement/generate_events.py -o bench/out/events.csv
    python3 bench/engagement/check_engagement.py bench/out/events.csv --as-of 2024-06-30
"""

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
GAP_MS = 30 * 60 * 1000
TOLERANCE = 1e-9


def parse_ms(text):
    """Milliseconds since the epoch; naive times and plain dates are UTC."""
    dt = datetime.datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def utc_date(ms):
    return (EPOCH + datetime.timedelta(milliseconds=ms)).date()


def expected_figures(path, as_of):
    window = [as_of - datetime.timedelta(days=29 - i) for i in range(30)]
    window_set = set(window)
    last_week = set(window[-7:])
    previous = {as_of - datetime.timedelta(days=59 - i) for i in range(30)}

    active = defaultdict(set)  # (customer, user) -> active dates in the window
    accounts = {}  # customer -> dict of counters
    explicit = {}  # (customer, user, session_id) -> [first, last]
    implicit = defaultdict(list)  # (customer, user) -> times of events without session id
    feature_accounts = defaultdict(set)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ms = parse_ms(row["timestamp"])
            day = utc_date(ms)
            if day > as_of:
                continue
            customer, user = row["customer_id"].strip(), row["user_id"].strip()
            acc = accounts.setdefault(
                customer, {"now": 0, "before": 0, "last": ms, "features": set()}
            )
            acc["last"] = max(acc["last"], ms)
            feature = (row.get("feature") or "").strip()
            if day in window_set:
                acc["now"] += 1
                active[(customer, user)].add(day)
                if feature:
                    acc["features"].add(feature)
                    feature_accounts[feature].add(customer)
            elif day in previous:
                acc["before"] += 1
            session = (row.get("session_id") or "").strip()
            if session:
                span = explicit.setdefault((customer, user, session), [ms, ms])
                span[0], span[1] = min(span[0], ms), max(span[1], ms)
            else:
                implicit[(customer, user)].append(ms)

    sessions = defaultdict(list)  # customer -> lengths in minutes of sessions starting in window
    for (customer, _, _), (first, last) in explicit.items():
        if utc_date(first) in window_set:
            sessions[customer].append((last - first) / 60000)
    for (customer, _), times in implicit.items():
        times.sort()
        start = prev = times[0]
        for t in times[1:] + [None]:
            if t is None or t - prev > GAP_MS:
                if utc_date(start) in window_set:
                    sessions[customer].append((prev - start) / 60000)
                start = t
            prev = t

    mau_users = [k for k, days in active.items() if days]
    mau = len(mau_users)
    daily = sum(len(days) for days in active.values()) / 30
    active_accounts = [c for c, a in accounts.items() if a["now"] > 0]
    figures = {
        "as_of": as_of.isoformat(),
        "dau": sum(1 for days in active.values() if as_of in days),
        "wau": sum(1 for days in active.values() if days & last_week),
        "mau": mau,
        "stickiness": daily / mau if mau else None,
        "feature_adoption": {
            f: len(accts) / len(active_accounts) for f, accts in sorted(feature_accounts.items())
        },
        "accounts": [],
    }
    for customer in sorted(accounts):
        acc = accounts[customer]
        users = {k: d for k, d in active.items() if k[0] == customer}
        mau_c = sum(1 for d in users.values() if d)
        lengths = sessions.get(customer, [])
        figures["accounts"].append({
            "customer_id": customer,
            "active_users_30d": mau_c,
            "dau_mau": (sum(len(d) for d in users.values()) / 30) / mau_c if mau_c else None,
            "sessions_30d": len(lengths),
            "avg_session_minutes": sum(lengths) / len(lengths) if lengths else None,
            "features_used_30d": len(acc["features"]),
            "usage_trend": (acc["now"] - acc["before"]) / max(acc["before"], 1),
            "days_since_last_activity": (as_of - utc_date(acc["last"])).days,
        })
    return figures


def compare(path, got, want, problems, stats):
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            problems.append(f"{path}: keys {list(got) if isinstance(got, dict) else got} != {list(want)}")
            return
        for k in want:
            compare(f"{path}.{k}", got[k], want[k], problems, stats)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            problems.append(f"{path}: {len(got) if isinstance(got, list) else got} items, want {len(want)}")
            return
        for i, (g, w) in enumerate(zip(got, want)):
            compare(f"{path}[{i}]", g, w, problems, stats)
    elif isinstance(want, float):
        stats["floats"] += 1
        if not isinstance(got, (int, float)) or abs(got - want) > TOLERANCE:
            problems.append(f"{path}: {got} != {want}")
        else:
            stats["max_diff"] = max(stats["max_diff"], abs(got - want))
    else:
        stats["exact"] += 1
        if got != want:
            problems.append(f"{path}: {got!r} != {want!r}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events")
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--northstar", default=os.path.join(root, "target", "release", "northstar"))
    args = parser.parse_args()
    as_of = datetime.date.fromisoformat(args.as_of)

    start = time.perf_counter()
    proc = subprocess.run(
        [args.northstar, "engagement", args.events, "--as-of", args.as_of, "--json"],
        capture_output=True, text=True,
    )
    northstar_seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"northstar failed: {proc.stderr}")
    got = json.loads(proc.stdout)

    start = time.perf_counter()
    want = expected_figures(args.events, as_of)
    python_seconds = time.perf_counter() - start

    problems, stats = [], {"floats": 0, "exact": 0, "max_diff": 0.0}
    compare("$", got, want, problems, stats)
    print(f"file: {args.events} (as of {args.as_of})")
    print(f"accounts: {len(want['accounts'])}, dau {want['dau']}, wau {want['wau']}, mau {want['mau']}, "
          f"features: {len(want['feature_adoption'])}, "
          f"sessions in window: {sum(a['sessions_30d'] for a in want['accounts'])}")
    print(f"compared: {stats['exact']} exact values, {stats['floats']} ratios "
          f"(largest difference {stats['max_diff']:.3g}, tolerance {TOLERANCE})")
    print(f"northstar engagement: {northstar_seconds:.2f} s wall; pure Python reference: {python_seconds:.2f} s")
    if problems:
        print(f"MISMATCH: {len(problems)} differences", file=sys.stderr)
        for p in problems[:20]:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print("OK: every figure matches")


if __name__ == "__main__":
    main()
