#!/usr/bin/env bash
# `northstar refresh` at scale: 100k customers, 10M usage events (issue: under 30 s on 2 cores,
# memory bounded by customers, not events).
#
#   bench/act/run_refresh_benchmark.sh [CUSTOMERS] [EVENTS]     (defaults 100000 10000000)
#
# 1. builds northstar (release) unless NORTHSTAR_BIN is set;
# 2. generates the workspace with bench/act/generate_workspace.py (seeded; reused if present);
# 3. times the imports and `refresh` into a fresh store, then `refresh` of the same date again;
# 4. repeats import + refresh with only the first tenth of the events, to show that refresh's
#    peak memory follows customers, not events.
# Wall time and peak RSS come from GNU time; the summary is also written to
# bench/out/refresh/report.md.
set -euo pipefail

CUSTOMERS="${1:-100000}"
EVENTS="${2:-10000000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="bench/out/refresh"
DATA="$OUT/data-$CUSTOMERS-$EVENTS"
AS_OF="2024-06-30"
mkdir -p "$OUT"

if [[ ! -x /usr/bin/time ]]; then
    apt-get update -qq && apt-get install -y -qq time
fi
if [[ -n "${NORTHSTAR_BIN:-}" ]]; then
    NS="$NORTHSTAR_BIN"
else
    cargo build --release -p northstar >&2
    NS="${CARGO_TARGET_DIR:-$ROOT/target}/release/northstar"
fi

if [[ ! -s "$DATA/events.csv" ]]; then
    echo "generating $CUSTOMERS customers, $EVENTS events into $DATA" >&2
    python3 bench/act/generate_workspace.py --customers "$CUSTOMERS" --events "$EVENTS" --as-of "$AS_OF" -o "$DATA"
fi

REPORT="$OUT/report.md"
{
    echo "| step | wall s | max RSS MiB |"
    echo "|---|---:|---:|"
} >"$REPORT"

timed() {
    local name="$1"
    shift
    local tfile="$OUT/time.txt"
    /usr/bin/time -f "%e %M" -o "$tfile" "$@" >"$OUT/$name.log" 2>&1 || { cat "$OUT/$name.log" >&2; exit 1; }
    read -r wall rss <"$tfile"
    printf '| %s | %.2f | %.0f |\n' "$name" "$wall" "$(echo "$rss / 1024" | bc -l)" | tee -a "$REPORT" >&2
}

run_store() {
    local label="$1" events="$2"
    local db="$OUT/$label.db"
    rm -f "$db" "$db-wal" "$db-shm"
    timed "$label: import transactions" "$NS" import transactions "$DATA/transactions.csv" --db "$db"
    timed "$label: import events" "$NS" import events "$events" --db "$db"
    timed "$label: import customers" "$NS" import customers "$DATA/customers.csv" --db "$db"
    timed "$label: refresh" "$NS" refresh --as-of "$AS_OF" --db "$db"
    timed "$label: refresh again (same date)" "$NS" refresh --as-of "$AS_OF" --db "$db"
    tail -n 3 "$OUT/$label: refresh.log" >&2
    echo "store size: $(du -h "$db" | cut -f1)" >&2
}

rows=$(($(wc -l <"$DATA/events.csv") - 1))
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$REPORT" >&2
echo "events: $rows; customers: $CUSTOMERS" | tee -a "$REPORT" >&2
run_store "all events" "$DATA/events.csv"
head -n $((rows / 10 + 1)) "$DATA/events.csv" >"$OUT/events_tenth.csv"
run_store "a tenth of the events" "$OUT/events_tenth.csv"
rm -f "$OUT/events_tenth.csv"
echo "report: $REPORT" >&2
