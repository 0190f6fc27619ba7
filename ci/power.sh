#!/usr/bin/env bash
# ci/power.sh: a power study of `cnbench ab` on this machine. Calibrated slowdowns are made
# inside the runs' own namespaces with `--tweak` (never-matching nftables rules for +15 % tcp-rr
# p50, a token bucket at 90 % of the measured tcp-stream rate, one extra ifb hop for the exact
# counts), each compared with the plain configuration by `cnbench ab`, TRIALS times per
# slowdown and backend; A/A comparisons (`ab --aa`) and `ci/aa-check.sh` trials count false
# regressions. A study, not a test: it is outside `.ci/run`.
#
#   ci/power.sh [--backends bridge,vxlan] [--trials 10] [--aa 10] [--aa-budget 45s]
#               [--budget 180s] [--compare-aa 3] [--out DIR]
#
# Resumable: every comparison's JSON is kept in DIR (default target/power); a rerun skips what
# exists and continues. DIR/summary.md gets the rates with 95 % Wilson intervals. vxlan runs
# with one pod per node, so its only measured path is cross-node (the slowdowns are sized for
# that path). Needs root and a release build (CNBENCH, default target/release/cnbench).
set -euo pipefail

BACKENDS="bridge,vxlan"
TRIALS=10
AA=10
AA_BUDGET=45s
BUDGET=180s
COMPARE_AA=3
OUT=target/power
CNBENCH=${CNBENCH:-target/release/cnbench}
while [ $# -gt 0 ]; do
    case "$1" in
        --backends) BACKENDS=$2; shift 2 ;;
        --trials) TRIALS=$2; shift 2 ;;
        --aa) AA=$2; shift 2 ;;
        --aa-budget) AA_BUDGET=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        --compare-aa) COMPARE_AA=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "power: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$CNBENCH" ] || { echo "power: $CNBENCH missing: cargo build --release, or set CNBENCH" >&2; exit 2; }
command -v jq > /dev/null || { echo "power: needs jq (apt-get install jq)" >&2; exit 2; }
mkdir -p "$OUT"

# The run arguments of a backend: short windows, no traced repetition (device counts come
# from every repetition), one path.
run_args() {
    local b=$1
    echo "--backend $b --no-trace --duration 0.5 --warmup 0.1"
    [ "$b" = vxlan ] && echo "--pods-per-node 1"
    true
}

# One plain run's median of METRIC for WORKLOAD, with extra run arguments.
median_of() {
    local b=$1 workload=$2 metric=$3 file=$4; shift 4
    # shellcheck disable=SC2046
    "$CNBENCH" run $(run_args "$b") --workloads "$workload" --repeat 3 --no-baseline \
        "$@" --json "$file" > "$file.log" 2>&1
    jq -r --arg m "$metric" '.measurements[0].summary[] | select(.metric == $m) | .stats.median' "$file"
}

# The slowdowns of a backend, measured once and kept: nft rules for +15 % p50 (from the cost
# per rule between 0 and 200 rules) and a rate at 90 % of the plain tcp-stream rate.
calibrate_slowdowns() {
    local b=$1 f="$OUT/$b-slowdowns.json"
    [ -s "$f" ] && { cat "$f"; return; }
    local p0 p200 t
    p0=$(median_of "$b" tcp-rr rtt_p50_ns "$OUT/$b-cal-p0.json")
    p200=$(median_of "$b" tcp-rr rtt_p50_ns "$OUT/$b-cal-p200.json" --tweak nft-rules:200)
    t=$(median_of "$b" tcp-stream throughput_bps "$OUT/$b-cal-t.json")
    if ! jq -n --argjson a "$p0" --argjson b "$p200" -e '$b > $a' > /dev/null; then
        echo "power: $b: 200 nft rules did not raise tcp-rr p50 ($p0 -> $p200 ns); the machine was busy? run again" >&2
        rm -f "$OUT/$b-cal-"*.json
        exit 2
    fi
    jq -n --argjson p0 "$p0" --argjson p200 "$p200" --argjson t "$t" '{
        p50_ns: $p0, p50_ns_200_rules: $p200, ns_per_rule: (($p200 - $p0) / 200),
        rules: ((0.15 * $p0 / (($p200 - $p0) / 200)) | ceil),
        throughput_bps: $t, rate_bps: ((0.9 * $t) | floor) }' | tee "$f"
}

# One ab comparison into FILE (skipped when FILE exists).
ab() {
    local file=$1; shift
    [ -s "$file" ] && return 0
    local code=0
    "$CNBENCH" ab --json "$file.part" "$@" > "$file.log" 2>&1 || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && [ "$code" -ne 3 ]; then
        echo "power: ab failed (exit $code), see $file.log" >&2
        return 1
    fi
    mv "$file.part" "$file"
}

for b in ${BACKENDS//,/ }; do
    read -r -a args <<< "$(run_args "$b" | tr '\n' ' ')"
    s=$(calibrate_slowdowns "$b")
    rules=$(jq -r .rules <<< "$s")
    rate=$(jq -r .rate_bps <<< "$s")
    echo "== $b: +15% p50 with nft-rules:$rules; -10% throughput with rate:$rate"
    for i in $(seq 1 "$AA"); do
        ab "$OUT/$b-aa-$i.json" --aa --budget "$AA_BUDGET" -- "${args[@]}" --workloads tcp-rr,tcp-stream
    done
    for i in $(seq 1 "$TRIALS"); do
        ab "$OUT/$b-latency-$i.json" --b "--tweak nft-rules:$rules" --budget "$BUDGET" \
            -- "${args[@]}" --workloads tcp-rr
        ab "$OUT/$b-throughput-$i.json" --b "--tweak rate:$rate" --budget "$BUDGET" \
            -- "${args[@]}" --workloads tcp-stream
        # The count decides at the first look; the timed metrics need not be waited for.
        ab "$OUT/$b-hop-$i.json" --b "--tweak extra-hop" --budget "$BUDGET" --max-pairs 3 \
            -- "${args[@]}" --workloads tcp-rr
        echo "   trial $i done"
    done
done

# compare's own A/A trials.
if [ "$COMPARE_AA" -gt 0 ] && [ ! -s "$OUT/compare-aa.txt" ]; then
    # Exit 1 (a regression) is a finding and kept; a run that failed (2) is measured again
    # on the next call.
    code=0
    CNBENCH=$CNBENCH ci/aa-check.sh --backends "$BACKENDS" --trials "$COMPARE_AA" \
        --out "$OUT/compare-aa" > "$OUT/compare-aa.txt.part" 2>&1 || code=$?
    if [ "$code" -le 1 ]; then
        mv "$OUT/compare-aa.txt.part" "$OUT/compare-aa.txt"
    else
        echo "power: ci/aa-check.sh failed (exit $code), see $OUT/compare-aa.txt.part" >&2
    fi
fi

# The summary: how often the slowed metric was a regression, with a 95 % Wilson interval.
wilson() {
    python3 - "$1" "$2" <<'EOF'
import math, sys
k, n = int(sys.argv[1]), int(sys.argv[2])
if n == 0:
    print("-"); sys.exit()
z = 1.959964
p = k / n
d = 1 + z * z / n
c = (p + z * z / (2 * n)) / d
h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
print(f"{100*p:.0f}% [{100*max(0,c-h):.0f}%, {100*min(1,c+h):.0f}%]")
EOF
}
{
    echo "# cnbench power study ($(date -u +%F), $(nproc) CPUs, $(uname -r))"
    echo
    echo "| backend | comparison | trials | regression | rate (95% interval) | median pairs | median seconds |"
    echo "|---|---|---|---|---|---|---|"
    for b in ${BACKENDS//,/ }; do
        for kind in latency:rtt_p50_ns throughput:throughput_bps hop:device_tx_per_packet aa:any; do
            k=${kind%%:*} metric=${kind#*:}
            files=("$OUT/$b-$k-"*.json)
            [ -e "${files[0]}" ] || continue
            n=${#files[@]}
            if [ "$metric" = any ]; then
                hits=$(jq -s '[.[] | select(any(.comparison.metrics[]; .verdict == "regression"))] | length' "${files[@]}")
            else
                hits=$(jq -s --arg m "$metric" '[.[] | select(any(.comparison.metrics[]; .metric == $m and .verdict == "regression"))] | length' "${files[@]}")
            fi
            pairs=$(jq -s '[.[] | .pairs | length] | sort | .[length/2|floor]' "${files[@]}")
            secs=$(jq -s '[.[] | .elapsed_s] | sort | .[length/2|floor] | floor' "${files[@]}")
            echo "| $b | $k ($metric) | $n | $hits | $(wilson "$hits" "$n") | $pairs | $secs |"
        done
        echo "| $b | slowdowns | $(jq -c . "$OUT/$b-slowdowns.json") | | | | |"
    done
    echo
    [ -s "$OUT/compare-aa.txt" ] && { echo '`ci/aa-check.sh`:'; echo; tail -3 "$OUT/compare-aa.txt" | sed 's/^/    /'; }
} > "$OUT/summary.md"
cat "$OUT/summary.md"
