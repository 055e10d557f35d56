#!/usr/bin/env bash
# End-to-end benchmark: northstar vs Python lifetimes 0.11.3 on the same
# simulated transaction log, in one run.
#
#   bench/run_benchmark.sh [CUSTOMERS]        (default 1000000, about 2.8M purchases)
#
# 1. installs the lifetimes venv (bench/setup_venv.sh) and builds northstar (release);
# 2. simulates BG/NBD + Gamma-Gamma transactions with `northstar simulate`
#    (CDNOW parameters, 1997-01-01 .. 1998-06-30, seed 42) -> bench/out/tx.csv;
# 3. times northstar: summarize -> fit bgnbd -> fit gg -> clv (12 months, 1%/month),
#    NS_RUNS times (default 3);
# 4. times the same pipeline in lifetimes (bench/lifetimes_pipeline.py);
# 5. prints step times, total wall time, peak memory (max RSS from /usr/bin/time -v),
#    the lifetimes/northstar ratios (northstar: the run with the median total), the load
#    average before each tool ran, and how closely the two CLV columns agree
#    (also saved as bench/out/report.md and bench/out/report.json).
#
# Environment (all optional):
#   NORTHSTAR_BIN=path        use this northstar binary instead of building one
#   BENCH_TX=path             use this transaction CSV (customer_id,date,amount)
#                             instead of simulating one
#   LIFETIMES_SUMMARY_FREQ=W  lifetimes' summary resolution: W (default) bins dates
#                             into calendar weeks, as `freq='W'` does; D summarises
#                             by day and divides by 7, which is what northstar's
#                             `--time-unit week` computes (like-for-like CLV check)
#   SKIP_LIFETIMES=1          time northstar only
#   NS_RUNS=n                 run northstar's pipeline n times (default 3); the report shows
#                             the run with the median total and lists every run's total
set -euo pipefail

CUSTOMERS="${1:-1000000}"
if ! [[ "$CUSTOMERS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [CUSTOMERS]   (a positive integer, default 1000000)" >&2
    exit 2
fi
NS_RUNS="${NS_RUNS:-3}"
if ! [[ "$NS_RUNS" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: NS_RUNS must be a positive integer, not '$NS_RUNS'" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="bench/out"
mkdir -p "$OUT"
SUMMARY_FREQ="${LIFETIMES_SUMMARY_FREQ:-D}"
OBS_END="1998-06-30"

log() { printf '\n== %s\n' "$*" >&2; }

# --- tools --------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    # GNU time (for max RSS) is the Debian package `time`.
    if command -v apt-get >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
        log "installing GNU time"
        apt-get update -qq >&2 && apt-get install -y -qq time >&2
    else
        echo "error: /usr/bin/time (GNU time) is missing; install the 'time' package" >&2
        exit 1
    fi
fi

log "lifetimes venv"
PY="$(bash bench/setup_venv.sh | tail -n 1)"

if [[ -n "${NORTHSTAR_BIN:-}" ]]; then
    NS="$NORTHSTAR_BIN"
else
    log "cargo build --release -p northstar"
    cargo build --release -p northstar
    NS="${CARGO_TARGET_DIR:-$ROOT/target}/release/northstar"
fi
if [[ ! -x "$NS" ]]; then
    echo "error: northstar binary not found at $NS" >&2
    exit 1
fi

now_ns() { date +%s%N; }

# run_timed NAME CMD...: runs CMD under GNU time; appends "NAME<TAB>wall_s<TAB>maxrss_kb"
# to $STEPS and leaves the full `time -v` report in $OUT/time_NAME$RUN_TAG.txt.
RUN_TAG=""
run_timed() {
    local name="$1"
    shift
    local tfile="$OUT/time_$name$RUN_TAG.txt" t0 t1 rss
    t0="$(now_ns)"
    if ! /usr/bin/time -v -o "$tfile" "$@"; then
        echo "error: step '$name' failed: $*" >&2
        exit 1
    fi
    t1="$(now_ns)"
    rss="$(awk -F': *' '/Maximum resident set size/ {print $2}' "$tfile")"
    printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')" "$rss" >>"$STEPS"
    printf '%-28s %8.3f s  %9s KiB max RSS\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')" "$rss" >&2
}

# --- data ---------------------------------------------------------------------
rm -f "$OUT"/*.tsv "$OUT"/time_*.txt "$OUT"/report.* "$OUT"/loadavg_*.txt
STEPS="$OUT/data_steps.tsv"
if [[ -n "${BENCH_TX:-}" ]]; then
    TX="$BENCH_TX"
    log "using transactions from $TX"
else
    TX="$OUT/tx.csv"
    log "simulating $CUSTOMERS customers"
    run_timed simulate "$NS" simulate bgnbd --customers "$CUSTOMERS" \
        --params r=0.2425945,alpha=4.4136019,a=0.7929199,b=2.4258881 \
        --spend p=6.2488,q=3.7446,v=15.4478 \
        --start 1997-01-01 --end "$OBS_END" --seed 42 -o "$TX"
fi
if [[ ! -s "$TX" ]]; then
    echo "error: no transactions in $TX" >&2
    exit 1
fi
ROWS="$(awk 'END {print NR - 1}' "$TX")"  # data rows, with or without a final newline
echo "$ROWS transactions in $TX" >&2

# --- northstar ----------------------------------------------------------------
# The machines here are shared: each run is timed separately, and the report shows the run
# with the median total (so every step figure comes from one and the same run).
cp /proc/loadavg "$OUT/loadavg_northstar.txt" 2>/dev/null || true
for run in $(seq 1 "$NS_RUNS"); do
    log "northstar pipeline, run $run of $NS_RUNS"
    STEPS="$OUT/northstar_steps_$run.tsv"
    RUN_TAG="_$run"
    run_timed ns_summarize "$NS" summarize "$TX" --observation-end "$OBS_END" --time-unit week -o "$OUT/rfm.csv"
    run_timed ns_fit_bgnbd "$NS" fit bgnbd "$OUT/rfm.csv" -o "$OUT/bgnbd.json"
    run_timed ns_fit_gg "$NS" fit gg "$OUT/rfm.csv" -o "$OUT/gg.json"
    run_timed ns_clv "$NS" clv --purchase-model "$OUT/bgnbd.json" --spend-model "$OUT/gg.json" "$OUT/rfm.csv" \
        --months 12 --discount-rate 0.01 -o "$OUT/clv.csv"
done
RUN_TAG=""

# --- lifetimes ----------------------------------------------------------------
if [[ "${SKIP_LIFETIMES:-0}" != "1" ]]; then
    log "lifetimes pipeline (summary freq $SUMMARY_FREQ)"
    cp /proc/loadavg "$OUT/loadavg_lifetimes.txt" 2>/dev/null || true
    STEPS="$OUT/lifetimes_steps.tsv"
    run_timed lifetimes "$PY" bench/lifetimes_pipeline.py "$TX" -o "$OUT/clv_lifetimes.csv" \
        --observation-end "$OBS_END" --summary-freq "$SUMMARY_FREQ" --timings "$OUT/lifetimes_timings.json"
fi

# --- report -------------------------------------------------------------------
log "report"
"$PY" bench/report.py --out-dir "$OUT" --customers "$CUSTOMERS" --transactions "$ROWS" \
    --summary-freq "$SUMMARY_FREQ" --northstar-bin "$NS"
