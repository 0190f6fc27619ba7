#!/usr/bin/env bash
# ci/cni-crosscheck.sh: the reference CNI plugins against cnbench's own wiring, back to back on
# one machine, compared with `cnbench compare --across-backends`:
#   1. `--backend bridge` (cnbench's docker0) against `--backend cni` with
#      examples/cni/docker0.conflist (the reference bridge + host-local plugins configured as
#      docker0: 172.17.0.0/16, gateway .1);
#   2. `--backend vxlan` (cnbench's cni0 pods) against `--backend vxlan --pod-wiring cni` with
#      examples/cni/cbr0.conflist (flannel's delegate: bridge + host-local with the node's
#      block).
# Each pair takes the same path through the same kernel, so every check must pass on both
# sides and the comparison must find no regression and no improvement: a verdict other than
# pass is a difference between the plugins' datapath and cnbench's, or noise to look at.
#
#   ci/cni-crosscheck.sh [--repeat N] [--duration SECONDS] [--out DIR]
#
# Prints each comparison's table and a line per pair. Exit status: 0 both pairs without a
# regression or an improvement on any metric and every check passed on every run (metrics the
# noise left undecided, `inconclusive`, are listed but do not fail it: repeat with more
# --repeat to decide them); 1 a regression, an improvement or a failed check; 2 a run could
# not be made. Needs root and Debian's containernetworking-plugins (README.md "CNI plugin
# chains").
set -euo pipefail

REPEAT=5
DURATION=2
OUT=
CNBENCH=${CNBENCH:-target/release/cnbench}
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) REPEAT=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "cni-crosscheck: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$CNBENCH" ] || { echo "cni-crosscheck: $CNBENCH missing: cargo build --release, or set CNBENCH" >&2; exit 2; }
if [ -z "$OUT" ]; then OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
mkdir -p "$OUT"
COMMON=(--workloads tcp-rr,tcp-stream --repeat "$REPEAT" --duration "$DURATION" --no-baseline)

status=0
run() { # name, then cnbench run options
    local name=$1 code=0; shift
    "$CNBENCH" run "$@" "${COMMON[@]}" --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || code=$?
    case "$code" in
        0) ;;
        1) echo "cni-crosscheck: run $name: a check failed (see $OUT/$name.log)"; status=1 ;;
        *) echo "cni-crosscheck: run $name failed (exit $code): see $OUT/$name.log" >&2
           tail -3 "$OUT/$name.log" >&2
           exit 2 ;;
    esac
    grep -E '^checks:' "$OUT/$name.log" | sed "s/^/$name: /"
}

compare() { # baseline, candidate
    local code=0
    "$CNBENCH" compare --across-backends "$OUT/$1.json" "$OUT/$2.json" --json "$OUT/$1-vs-$2.cmp.json" \
        > "$OUT/$1-vs-$2.txt" 2>&1 || code=$?
    cat "$OUT/$1-vs-$2.txt"
    [ "$code" -eq 2 ] && exit 2
    # The comparison's JSON: one verdict per metric, and the conformance verdict.
    local counts
    counts=$(python3 - "$OUT/$1-vs-$2.cmp.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
verdicts = [m["verdict"] for m in c["metrics"]]
changed = sum(v in ("regression", "improvement") for v in verdicts)
undecided = sum(v == "inconclusive" for v in verdicts)
conformance = (c.get("conformance") or {}).get("verdict", "pass")
print(changed, undecided, conformance)
PY
)
    read -r changed undecided conformance <<< "$counts"
    echo "== $1 vs $2: $changed metric(s) changed, $undecided undecided (noise), conformance $conformance"
    if [ "$changed" != 0 ] || [ "$conformance" != pass ]; then status=1; fi
}

run bridge --backend bridge
run cni-docker0 --backend cni --cni-conf examples/cni/docker0.conflist
compare bridge cni-docker0

run vxlan --backend vxlan
run vxlan-cni --backend vxlan --pod-wiring cni --cni-conf examples/cni/cbr0.conflist
compare vxlan vxlan-cni
exit $status
