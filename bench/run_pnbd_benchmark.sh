#!/usr/bin/env bash
# Pareto/NBD fit benchmark: `northstar fit pnbd` vs lifetimes' ParetoNBDFitter
# on the same simulated RFM table, in one run (issue #4: at 100k customers
# northstar must be at least 50x faster).
#
#   bench/run_pnbd_benchmark.sh [CUSTOMERS] [--northstar-only]   (default 100000)
#
# 1. installs the lifetimes venv (bench/setup_venv.sh) and builds northstar (release);
# 2. simulates Pareto/NBD purchases with `northstar simulate pnbd` (CDNOW-like
#    parameters r=0.55315, alpha=10.57633, s=0.60625, beta=11.6715 per week,
#    1997-01-01 .. 1998-06-30, seed 42) -> bench/out/pnbd_tx.csv, and summarises
#    them in weeks -> bench/out/pnbd_rfm.csv (both timed, not compared);
# 3. times `northstar fit pnbd bench/out/pnbd_rfm.csv --json`, a whole process
#    under /usr/bin/time -v, NS_FIT_RUNS times (default 3; the median is reported);
# 4. times lifetimes' ParetoNBDFitter().fit on the same file, once
#    (bench/lifetimes_pnbd_fit.py under /usr/bin/time -v);
# 5. prints the times, CPU times, max RSS, the lifetimes/northstar ratio, both
#    fitted parameter sets and log-likelihoods as a Markdown table
#    (bench/pnbd_report.py), saved as bench/out/pnbd_report.md and
#    bench/out/pnbd_report_<CUSTOMERS>.md (numbers in the matching .json).
#
# Environment (all optional):
#   NORTHSTAR_BIN=path   use this northstar binary instead of building one
#   SKIP_LIFETIMES=1     time northstar only (same as --northstar-only)
#   NS_FIT_RUNS=n        how many times to run northstar's fit (default 3)
#   LIFETIMES_SEED=n     numpy seed for lifetimes' random start (default 42; -1 = unseeded)
set -euo pipefail

usage() {
    echo "usage: $0 [CUSTOMERS] [--northstar-only]   (CUSTOMERS a positive integer, default 100000)" >&2
    exit 2
}

CUSTOMERS=100000
SKIP_LT="${SKIP_LIFETIMES:-0}"
for arg in "$@"; do
    case "$arg" in
        --northstar-only) SKIP_LT=1 ;;
        -h | --help) usage ;;
        *)
            [[ "$arg" =~ ^[1-9][0-9]*$ ]] || usage
            CUSTOMERS="$arg"
            ;;
    esac
done
RUNS="${NS_FIT_RUNS:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "error: NS_FIT_RUNS must be a positive integer" >&2; exit 2; }
LT_SEED="${LIFETIMES_SEED:-42}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="bench/out"
# Per-run files live in their own folder, apart from run_benchmark.sh's
# (which clears bench/out/*.tsv and bench/out/time_*.txt when it starts).
WORK="$OUT/pnbd"
mkdir -p "$OUT" "$WORK"
OBS_END="1998-06-30"
TRUE_PARAMS="r=0.55315,alpha=10.57633,s=0.60625,beta=11.6715"

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

# The venv's python also runs the report, so it is set up even with --northstar-only.
log "lifetimes venv"
PY="$(bash bench/setup_venv.sh | tail -n 1)"

if [[ -n "${NORTHSTAR_BIN:-}" ]]; then
    NS="$NORTHSTAR_BIN"
else
    log "cargo build --release -p northstar"
    if ! cargo build --release -p northstar; then
        echo "error: cargo build failed; retry, or point NORTHSTAR_BIN at an existing binary" >&2
        exit 1
    fi
    NS="${CARGO_TARGET_DIR:-$ROOT/target}/release/northstar"
fi
if [[ ! -x "$NS" ]]; then
    echo "error: northstar binary not found at $NS" >&2
    exit 1
fi

now_ns() { date +%s%N; }

# run_timed NAME STDOUT CMD...: runs CMD under GNU time with its standard output
# in STDOUT (or /dev/stdout for "-"); appends
# "NAME<TAB>wall_s<TAB>maxrss_kib<TAB>user_s<TAB>sys_s" to $STEPS and leaves the
# full `time -v` report in $WORK/time_NAME.txt.
run_timed() {
    local name="$1" stdout="$2"
    shift 2
    [[ "$stdout" == "-" ]] && stdout=/dev/stdout
    local tfile="$WORK/time_$name.txt" t0 t1 wall rss usr sys
    t0="$(now_ns)"
    if ! /usr/bin/time -v -o "$tfile" "$@" >"$stdout"; then
        echo "error: step '$name' failed: $*" >&2
        exit 1
    fi
    t1="$(now_ns)"
    wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"
    rss="$(awk -F': *' '/Maximum resident set size/ {print $2}' "$tfile")"
    usr="$(awk -F': *' '/User time \(seconds\)/ {print $2}' "$tfile")"
    sys="$(awk -F': *' '/System time \(seconds\)/ {print $2}' "$tfile")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$rss" "$usr" "$sys" >>"$STEPS"
    printf '%-22s %8.3f s wall  %6.2f s user  %6.2f s sys  %9s KiB max RSS\n' \
        "$name" "$wall" "$usr" "$sys" "$rss" >&2
}

rm -f "$WORK"/*
# Load before the timed runs (other work on the machine skews the times).
cut -d' ' -f1-3 /proc/loadavg >"$WORK/loadavg_start.txt"

# --- data (not compared) ------------------------------------------------------
TX="$OUT/pnbd_tx.csv"
RFM="$OUT/pnbd_rfm.csv"
STEPS="$WORK/data_steps.tsv"
log "simulating $CUSTOMERS Pareto/NBD customers"
run_timed simulate - "$NS" simulate pnbd --customers "$CUSTOMERS" --params "$TRUE_PARAMS" \
    --start 1997-01-01 --end "$OBS_END" --seed 42 -o "$TX"
ROWS="$(awk 'END {print NR - 1}' "$TX")"  # data rows, with or without a final newline
echo "$ROWS transactions in $TX" >&2
run_timed summarize - "$NS" summarize "$TX" --observation-end "$OBS_END" --time-unit week -o "$RFM"

# --- northstar ----------------------------------------------------------------
log "northstar fit pnbd, $RUNS runs"
STEPS="$WORK/northstar_fit.tsv"
for i in $(seq 1 "$RUNS"); do
    run_timed "ns_fit_$i" "$WORK/ns_fit_$i.json" "$NS" fit pnbd "$RFM" --json
done

# --- lifetimes ----------------------------------------------------------------
if [[ "$SKIP_LT" != "1" ]]; then
    log "lifetimes ParetoNBDFitter().fit (one run)"
    STEPS="$WORK/lifetimes_fit.tsv"
    run_timed lifetimes - "$PY" bench/lifetimes_pnbd_fit.py "$RFM" --json "$WORK/lifetimes.json" \
        --seed "$LT_SEED" --northstar-fit "$WORK/ns_fit_1.json"
fi

# --- report -------------------------------------------------------------------
log "report"
"$PY" bench/pnbd_report.py --out-dir "$OUT" --work-dir "$WORK" --customers "$CUSTOMERS" \
    --transactions "$ROWS" --true-params "$TRUE_PARAMS" --northstar-bin "$NS"
