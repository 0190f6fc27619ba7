#!/usr/bin/env bash
# ci/soak.sh: a long `cnbench run` (default: --backend vxlan --repeat 50, about 14 minutes of
# full CPU on 2 cores with its host-net baseline) while the cnbench process is sampled every
# second: open file descriptors, resident memory (VmRSS, VmHWM), threads, and how many `cnb-`
# namespaces exist. A leak shows as fds or memory that keep growing from one repetition to
# the next.
#
#   ci/soak.sh [--backend B] [--repeat N] [--out DIR] [-- extra cnbench run options]
#
# Builds the release binary first (`cargo build --release`) unless CNBENCH names a binary.
# Writes DIR/samples.csv (time_s,fds,rss_kib,threads, then hwm_kib, cnb_netns, own_netns,
# reps, stage) and DIR/run.log (cnbench's output), and prints a summary: fds first, median,
# max, last; RSS first after setup, median, max, last. Verdict "flat" when the median fds of
# the last quarter of the measuring phase equal those of its first quarter (within 2) and RSS
# grew by less than 8 KiB per repetition while measuring. The result stays in memory as the
# run goes (every repetition's figures and costs, about 4-5 KiB of heap, freed at exit; it is
# rewritten whole to --json after each), so RSS grows with --repeat without any leak; a leak
# of a buffer, a thread or a pipe per repetition would cost more than that.
# Exit status: 0 flat, 1 not flat, 2 the run failed or the soak could not start.
# Needs root, as cnbench does. Interrupted, it stops cnbench with SIGTERM (which tears its
# run down) and waits for it; nothing of the run is left either way.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=vxlan
REPEAT=50
OUT=
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --backend|-b) BACKEND=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "soak: cnbench needs root to create network namespaces: run it as root" >&2
    exit 2
fi
if [ -z "${CNBENCH:-}" ]; then
    cargo build --release --quiet
    CNBENCH=target/release/cnbench
fi
[ -x "$CNBENCH" ] || { echo "soak: $CNBENCH is not an executable" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/cnbench-soak.XXXXXX)
mkdir -p "$OUT"
# A copy of its own: cnbench starts its agents from its own binary, which a rebuild during
# the soak would otherwise replace under it.
cp "$CNBENCH" "$OUT/cnbench"
CNBENCH=$OUT/cnbench
CSV=$OUT/samples.csv
LOG=$OUT/run.log

pid=
# Stops cnbench (SIGTERM: it tears its run down, then exits) and waits for it. Only if it is
# still there a minute later is it killed, and then its runs are removed with `cnbench down`.
stop_cnbench() {
    [ -n "$pid" ] || return 0
    if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        echo "soak: stopping cnbench (pid $pid); it tears its run down" >&2
        kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null \
            && [ "$waited" -lt 600 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            echo "soak: cnbench did not stop within 60 s; killing it and removing its runs" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            pid=
            for id in $(run_ids); do "$CNBENCH" down "$id" >&2 || true; done
            return 0
        fi
    fi
    wait "$pid" 2>/dev/null || true
    pid=
}
trap stop_cnbench EXIT
trap 'exit 130' INT TERM

# The ids of the runs this soak started (the run and its host-net baseline), from the log.
run_ids() {
    sed -n -e 's/^cnbench run \([0-9a-f]*\):.*/\1/p' -e 's/^== baseline: .*(run \([0-9a-f]*\))$/\1/p' \
        "$LOG" 2>/dev/null || true
}

count_netns() {
    local all own=0 id
    all=$(find /run/netns -maxdepth 1 -name 'cnb-*' 2>/dev/null | wc -l)
    for id in $(run_ids); do
        own=$((own + $(find /run/netns -maxdepth 1 -name "cnb-$id-*" 2>/dev/null | wc -l)))
    done
    echo "$all,$own"
}

# What the run is doing: the last `== ` phase line, prefixed with `baseline-` once the host-net
# baseline has begun (setting, checking, measuring, tearing; empty before the first).
stage() {
    local phase prefix=
    phase=$( (grep '^== ' "$LOG" 2>/dev/null || true) | tail -n 1 | cut -c4- | awk '{print $1}' | tr -d ':,')
    if grep -q '^== baseline' "$LOG" 2>/dev/null; then prefix=baseline-; fi
    [ "$phase" = baseline ] && phase=starting
    echo "${prefix}${phase}"
}

status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status" 2>/dev/null || true; }

cmd=("$CNBENCH" run --backend "$BACKEND" --repeat "$REPEAT" "${EXTRA[@]}")
echo "soak: ${cmd[*]}"
echo "soak: samples in $CSV, output in $LOG"
echo "time_s,fds,rss_kib,threads,hwm_kib,cnb_netns,own_netns,reps,stage" > "$CSV"
start=$EPOCHREALTIME
"${cmd[@]}" > "$LOG" 2>&1 &
pid=$!

next_report=30
while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
    fds=$( (ls "/proc/$pid/fd" 2>/dev/null || true) | wc -l)
    rss=$(status_kib VmRSS)
    hwm=$(status_kib VmHWM)
    threads=$(status_kib Threads)
    # The process may have ended between the checks: keep only complete samples.
    if [ -n "$rss" ] && [ -n "$threads" ] && [ "$fds" -gt 0 ]; then
        now=$EPOCHREALTIME
        t=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
        reps=$(grep -cE '\] +rep [0-9]+ ' "$LOG" 2>/dev/null || true)
        echo "$t,$fds,$rss,$threads,$hwm,$(count_netns),${reps:-0},$(stage)" >> "$CSV"
        if [ "${t%.*}" -ge "$next_report" ]; then
            echo "soak: ${t%.*} s  $(stage)  ${reps:-0} repetitions  fds $fds  rss $rss KiB  hwm $hwm KiB  threads $threads"
            next_report=$((next_report + 30))
        fi
    fi
    sleep 1
done
set +e
wait "$pid"
code=$?
set -e
pid=
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
left=$(count_netns | cut -d, -f2)

echo
grep -E '^(checks:|run [0-9a-f]+:)' "$LOG" || true
echo "soak: cnbench exited $code after $elapsed s ($((elapsed / 60)) min); $(tail -n +2 "$CSV" | wc -l) samples; $(grep -cE '\] +rep [0-9]+ ' "$LOG" || true) repetitions measured"

# The summary, from the CSV: every sample for first, median, max and last; the main run's
# measuring phase for the quarters; the end of its first repetition for RSS growth.
verdict=0
awk -F, '
    function median(a, n,   i, j, t, b) {
        for (i = 1; i <= n; i++) b[i] = a[i]
        for (i = 2; i <= n; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]; b[j + 1] = t }
        return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
    }
    NR == 1 { next }
    {
        n++; fds[n] = $2; rss[n] = $3; thr[n] = $4; hwm = $5
        if (fmax == "" || $2 > fmax) fmax = $2
        if (rmax == "" || $3 > rmax) rmax = $3
        if (tmax == "" || $4 > tmax) tmax = $4
        if (rsetup == "" && $9 != "" && $9 != "setting") rsetup = $3
        if (rrep1 == "" && $8 >= 1) { rrep1 = $3; trep1 = $1 }
        if ($9 == "measuring") { m++; mfds[m] = $2; mrss = $3; mreps = $8 }
        last = n; tlast = $1
    }
    END {
        if (n == 0) { print "soak: no samples"; exit 2 }
        printf "fds:     first %d  median %g  max %d  last %d\n", fds[1], median(fds, n), fmax, fds[last]
        printf "RSS KiB: first after setup %s  median %g  max %d  last %d  (VmHWM %d)\n", rsetup, median(rss, n), rmax, rss[last], hwm
        printf "threads: first %d  median %g  max %d  last %d\n", thr[1], median(thr, n), tmax, thr[last]
        if (m < 4 || rrep1 == "") { print "verdict: too short to judge (fewer than 4 samples while measuring)"; exit 2 }
        q = int(m / 4)
        for (i = 1; i <= q; i++) { a[i] = mfds[i]; b[i] = mfds[m - q + i] }
        fa = median(a, q); fb = median(b, q)
        growth = 100 * (rss[last] - rrep1) / rrep1
        printf "measuring: %d samples; median fds first quarter %g, last quarter %g\n", m, fa, fb
        printf "RSS: %d KiB at the end of the first repetition (%s s), %d KiB at the end (%s s): %+.1f %%\n", rrep1, trep1, rss[last], tlast, growth
        perrep = 0
        if (mreps > 1) {
            perrep = (mrss - rrep1) / (mreps - 1)
            printf "RSS while measuring: %+.2f KiB per repetition (%d KiB after %d repetitions)\n", perrep, mrss, mreps
        }
        flat = (fb - fa <= 2 && fa - fb <= 2 && perrep < 8)
        print "verdict: " (flat ? "flat" : "NOT flat (fds or memory grow)")
        exit flat ? 0 : 1
    }' "$CSV" || verdict=$?
if [ "$left" -ne 0 ]; then
    echo "soak: $left namespace(s) of this soak's runs are left: $(run_ids | tr '\n' ' ')" >&2
    exit 2
fi
if [ "$code" -ne 0 ]; then
    echo "soak: cnbench failed (exit $code); see $LOG" >&2
    exit 2
fi
exit "$verdict"
