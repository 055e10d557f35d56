#!/usr/bin/env python3
"""Generates a synthetic product-usage events CSV for `northstar engagement` checks.

Pure Python standard library; the same seed gives the same file. Accounts have a usage profile:
steady, growing, declining (usage fades through the last two months), gone quiet (no events in
the last weeks) or new (first event in the last weeks). Each user's events come in sessions; a
web client sends a session_id, other clients do not (implicit sessions). Gaps inside sessions
are mostly short, and some are exactly 30, 29 or 31 minutes, to exercise the session-gap rule.
Events carry features from the account's adopted subset, and include `limit_hit` and
`locked_feature_click` events. A few events fall after the as-of date. Timestamps mix the
accepted forms: `...Z`, no zone, a space separator, fractional seconds, `+02:00`/`-05:00`
offsets (written in local time, the same instant) and plain dates.

    python3 bench/engagement/generate_events.py -o bench/out/events.csv        # 600k events
    python3 bench/engagement/generate_events.py --sample -o data/sample_events.csv

Columns: customer_id,user_id,timestamp,event,feature,session_id,duration_seconds
"""

import argparse
import datetime
import itertools
import random
import sys

FEATURES = [
    "dashboards", "reports", "export", "alerts", "api", "sso",
    "integrations", "automations", "audit_log", "custom_fields", "forecasting", "sandbox",
]
PREMIUM = ["sso", "audit_log", "forecasting", "sandbox"]
EVENTS = ["page_view", "page_view", "page_view", "search", "click", "save", "share"]
PROFILES = ["steady"] * 5 + ["growing"] * 2 + ["declining"] * 2 + ["quiet", "new"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=120, help="days of history up to --as-of")
    parser.add_argument("--as-of", default="2024-06-30")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--sample",
        action="store_true",
        help="the small sample shipped in data/: 4,000 events, 20 accounts, 90 users, seed 20",
    )
    parser.add_argument("-o", "--output", default="-", help="output CSV (default: stdout)")
    args = parser.parse_args()
    if args.sample:
        args.events, args.accounts, args.users, args.seed = 4_000, 20, 90, 20
    if args.users < args.accounts:
        sys.exit("--users must be at least --accounts")

    rng = random.Random(args.seed)
    as_of = datetime.date.fromisoformat(args.as_of)
    first_day = as_of - datetime.timedelta(days=args.days - 1)
    n_days = args.days + 3  # three days after the as-of date, which northstar must ignore

    accounts = make_accounts(rng, args.accounts, args.users, args.days, n_days)
    users = [(a, u) for a in accounts for u in a["users"]]
    weights = [a["weight"] * u["weight"] for a, u in users]
    total = sum(weights)
    budgets = [int(args.events * w / total) for w in weights]
    # Hand out the rounding remainder so the file has exactly --events rows.
    for i in rng.sample(range(len(users)), args.events - sum(budgets)):
        budgets[i] += 1

    rows = []
    for (account, user), budget in zip(users, budgets):
        rows.extend(user_events(rng, account, user, budget, first_day, n_days))
    rows.sort(key=lambda r: r[0])

    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    out.write("customer_id,user_id,timestamp,event,feature,session_id,duration_seconds\n")
    for ms, customer, user, event, feature, session, duration in rows:
        out.write(f"{customer},{user},{format_timestamp(rng, ms)},{event},{feature},{session},{duration}\n")
    if out is not sys.stdout:
        out.close()
    print(
        f"wrote {len(rows)} events, {len(accounts)} accounts, {len(users)} users "
        f"({first_day} to {as_of} plus 3 days) to {args.output}",
        file=sys.stderr,
    )


def make_accounts(rng, n_accounts, n_users, days, n_days):
    accounts = []
    for i in range(n_accounts):
        profile = PROFILES[i % len(PROFILES)] if i < len(PROFILES) else rng.choice(PROFILES)
        adopted = rng.sample(FEATURES, rng.randint(1, len(FEATURES)))
        accounts.append({
            "id": f"acct_{i + 1:04d}",
            "profile": profile,
            "weight": rng.lognormvariate(0, 0.6),
            "features": adopted,
            "day_weights": day_weights(rng, profile, days, n_days),
            "users": [],
        })
    # Every account gets one user; the rest go to accounts with probability by size.
    sizes = [a["weight"] for a in accounts]
    owners = list(range(n_accounts)) + rng.choices(range(n_accounts), weights=sizes, k=n_users - n_accounts)
    for k, owner in enumerate(owners):
        accounts[owner]["users"].append({"id": f"user_{k + 1:05d}", "weight": rng.lognormvariate(0, 0.8)})
    return accounts


def day_weights(rng, profile, days, n_days):
    """Relative activity of each day (index 0 = first day of the history)."""
    weights = []
    stop = days - rng.randint(10, 45)  # quiet accounts stop here
    start = days - rng.randint(5, 25)  # new accounts start here
    for d in range(n_days):
        x = d / days
        if profile == "growing":
            w = 0.3 + 1.4 * x
        elif profile == "declining":
            w = 1.0 if d < days - 60 else max(0.05, 1.0 - (d - (days - 60)) / 60 * 0.95)
        elif profile == "quiet":
            w = 1.0 if d < stop else 0.0
        elif profile == "new":
            w = 0.0 if d < start else 1.0
        else:
            w = 1.0
        weekday = d % 7
        weights.append(w * (0.35 if weekday in (5, 6) else 1.0))
    return weights


def user_events(rng, account, user, budget, first_day, n_days):
    """About `budget` events of one user, as sessions of events."""
    rows = []
    cum = list(itertools.accumulate(account["day_weights"]))
    base_ms = int((datetime.datetime.combine(first_day, datetime.time(), datetime.timezone.utc) - EPOCH).total_seconds() * 1000)
    n_session = 0
    while len(rows) < budget:
        d = rng.choices(range(n_days), cum_weights=cum)[0]
        start = base_ms + d * 86_400_000 + rng.randint(6 * 3600, 22 * 3600) * 1000 + rng.randint(0, 999)
        explicit = rng.random() < 0.5  # web client: sends a session id
        n_session += 1
        session = f"{user['id']}-s{n_session}" if explicit else ""
        length = min(budget - len(rows), max(1, int(rng.expovariate(1 / 8))))
        t = start
        for _ in range(length):
            r = rng.random()
            if r < 0.04:
                event, feature = "limit_hit", rng.choice(account["features"])
            elif r < 0.06:
                event, feature = "locked_feature_click", rng.choice(PREMIUM)
            elif r < 0.45:
                event, feature = "use_feature", rng.choice(account["features"])
            else:
                event, feature = rng.choice(EVENTS), ""
            duration = f"{rng.randint(1, 600)}" if rng.random() < 0.3 else ""
            rows.append((t, account["id"], user["id"], event, feature, session, duration))
            g = rng.random()
            if g < 0.03:
                gap = 30 * 60_000  # exactly the session gap: same session
            elif g < 0.05:
                gap = 29 * 60_000
            elif g < 0.07:
                gap = 31 * 60_000  # a new implicit session; still one explicit session
            else:
                gap = int(rng.expovariate(1 / 90_000))
            t += gap
    return rows


def format_timestamp(rng, ms):
    """One of the accepted forms, for the same instant (date-only rows move to midnight)."""
    utc = EPOCH + datetime.timedelta(milliseconds=ms)
    r = rng.random()
    if r < 0.55:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ") if ms % 1000 == 0 else utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    if r < 0.70:
        return utc.strftime("%Y-%m-%d %H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "")
    if r < 0.80:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"
    if r < 0.995:
        hours = rng.choice([2, -5, 9, -8])
        local = utc.astimezone(datetime.timezone(datetime.timedelta(hours=hours)))
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + local.strftime("%z")[:3] + ":00"
    return utc.strftime("%Y-%m-%d")


if __name__ == "__main__":
    main()
