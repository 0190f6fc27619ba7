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
# Prints each comparison's verdict line and table. Exit status: 0 both pairs within noise, 1 a
# regression or improvement (or a failed check), 2 a run failed. Needs root and Debian's
# containernetworking-plugins (README.md "CNI plugins").
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
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "cni-crosscheck: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$CNBENCH" ] || { echo "cni-crosscheck: $CNBENCH missing: cargo build --release, or set CNBENCH" >&2; exit 2; }
if [ -z "$OUT" ]; then OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
mkdir -p "$OUT"
COMMON=(--workloads tcp-rr,tcp-stream --repeat "$REPEAT" --duration "$DURATION" --no-baseline)

run() { # name, then cnbench run options
    local name=$1; shift
    if ! "$CNBENCH" run "$@" "${COMMON[@]}" --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1; then
        echo "cni-crosscheck: run $name failed (exit $?): see $OUT/$name.log" >&2
        tail -3 "$OUT/$name.log" >&2
        exit 2
    fi
    grep -E '^checks:' "$OUT/$name.log" | sed "s/^/$name: /"
}

status=0
compare() { # baseline, candidate
    set +e
    "$CNBENCH" compare --across-backends "$OUT/$1.json" "$OUT/$2.json" --json "$OUT/$1-vs-$2.cmp.json" \
        > "$OUT/$1-vs-$2.txt" 2>&1
    local code=$?
    set -e
    cat "$OUT/$1-vs-$2.txt"
    local changed
    changed=$(python3 - "$OUT/$1-vs-$2.cmp.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
counts = c.get("counts") or c.get("verdict_counts") or {}
print(sum(v for k, v in counts.items() if k in ("regression", "improvement")))
PY
)
    echo "== $1 vs $2: exit $code, $changed metric(s) changed"
    if [ "$code" -eq 2 ]; then exit 2; fi
    if [ "$code" -eq 1 ] || [ "$changed" != 0 ]; then status=1; fi
}

run bridge --backend bridge
run cni-docker0 --backend cni --cni-conf examples/cni/docker0.conflist
compare bridge cni-docker0

run vxlan --backend vxlan
run vxlan-cni --backend vxlan --pod-wiring cni --cni-conf examples/cni/cbr0.conflist
compare vxlan vxlan-cni
exit $status
