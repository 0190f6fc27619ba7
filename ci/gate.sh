#!/usr/bin/env bash
# ci/gate.sh: gate a change on cnbench, or refresh the baseline it is gated against.
#
#   ci/gate.sh [--baseline DIR] [--out DIR] [--backends LIST] [--repeat N] [--duration S]
#   ci/gate.sh --refresh [--baseline DIR] [--backends LIST] [--repeat N] [--duration S]
#
# Gate (default): for every backend, `cnbench run --json OUT/<backend>.json`, then
# `cnbench compare BASELINE/<backend>.json OUT/<backend>.json` with --markdown and --junit,
# then one `cnbench report` of every result into OUT/report/. OUT/verdict.md collects the
# Markdown of every comparison (a pull-request comment). The exit code is the worst of the
# comparisons: 1 if any backend regressed, else 3 if any was inconclusive, else 0; 2 when a
# run or an input failed.
#
# Refresh: measure every backend and write BASELINE/<backend>.json; commit that directory.
# Measure the baseline on the same kind of machine the gate runs on: figures from another
# machine are not comparable.
#
# Needs root (cnbench creates network namespaces; README.md "What cnbench changes on a
# machine" lists everything else it touches).
set -euo pipefail

BASELINE=cnbench-baseline
OUT=cnbench-out
BACKENDS="host-net,bridge,vxlan,host-gw,flannel-udp,ipip,bgp"
REPEAT=5
DURATION=1
REFRESH=
CNBENCH=${CNBENCH:-cnbench}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) BASELINE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --backends) BACKENDS=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --refresh) REFRESH=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "ci/gate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

command -v "$CNBENCH" >/dev/null || {
    echo "ci/gate.sh: $CNBENCH not found: cargo install --path . --root /usr/local, or set CNBENCH" >&2
    exit 2
}

run_backend() { # backend, json
    "$CNBENCH" run --backend "$1" --repeat "$REPEAT" --duration "$DURATION" --json "$2"
}

if [ -n "$REFRESH" ]; then
    mkdir -p "$BASELINE"
    for b in ${BACKENDS//,/ }; do
        echo "== baseline: $b"
        run_backend "$b" "$BASELINE/$b.json" || { echo "ci/gate.sh: $b failed; baseline not refreshed" >&2; exit 2; }
    done
    echo "baseline written to $BASELINE/; commit it"
    exit 0
fi

mkdir -p "$OUT"
: > "$OUT/verdict.md"
worst=0
results=()
for b in ${BACKENDS//,/ }; do
    echo "== $b"
    if [ ! -f "$BASELINE/$b.json" ]; then
        echo "ci/gate.sh: no baseline $BASELINE/$b.json: run ci/gate.sh --refresh first" >&2
        exit 2
    fi
    if ! run_backend "$b" "$OUT/$b.json"; then
        echo "ci/gate.sh: cnbench run --backend $b failed" >&2
        worst=2
        continue
    fi
    results+=("$OUT/$b.json")
    set +e
    "$CNBENCH" compare "$BASELINE/$b.json" "$OUT/$b.json" \
        --markdown "$OUT/$b.md" --junit "$OUT/$b.junit.xml"
    code=$?
    set -e
    cat "$OUT/$b.md" >> "$OUT/verdict.md"
    case "$code" in
        0) ;;
        1) [ "$worst" = 2 ] || worst=1 ;;
        3) [ "$worst" = 0 ] && worst=3 ;;
        *) worst=2 ;;
    esac
done
if [ "${#results[@]}" -gt 0 ]; then
    "$CNBENCH" report "${results[@]}" --out "$OUT/report"
fi
exit "$worst"
