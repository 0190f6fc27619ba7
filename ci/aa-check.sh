#!/usr/bin/env bash
# ci/aa-check.sh: A/A trials of `cnbench compare`. For every backend, run the same build twice
# and compare the two results; repeat for several trials. A comparison of a build with itself
# must never say `regression` (exit 1): this script counts verdicts and fails if one does.
#
#   ci/aa-check.sh [--backends LIST] [--trials N] [--out DIR] [-- extra cnbench run options]
#
# Prints, per trial and backend, the verdict counts (`cnbench compare` summary line) and at the
# end the totals. Exit status: 0 no regression anywhere, 1 some regression, 2 a run failed.
# Needs root (cnbench creates network namespaces; README.md "What cnbench changes on a
# machine" lists everything else it touches).
set -euo pipefail

BACKENDS="host-net,bridge,flannel-udp,vxlan,ipip,host-gw,bgp"
TRIALS=2
OUT=
CNBENCH=${CNBENCH:-target/release/cnbench}
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --backends) BACKENDS=$2; shift 2 ;;
        --trials) TRIALS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "aa-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$CNBENCH" ] || { echo "aa-check: $CNBENCH missing: cargo build --release, or set CNBENCH" >&2; exit 2; }
if [ -z "$OUT" ]; then OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
mkdir -p "$OUT"

regressions=0 compared=0 failed=0
for t in $(seq 1 "$TRIALS"); do
    for b in ${BACKENDS//,/ }; do
        for side in a b; do
            if ! "$CNBENCH" run --backend "$b" --no-baseline "${EXTRA[@]}" \
                --json "$OUT/$b-$t-$side.json" > "$OUT/$b-$t-$side.log" 2>&1; then
                echo "trial $t $b: run $side failed (see $OUT/$b-$t-$side.log)"
                failed=$((failed + 1))
                continue 2
            fi
        done
        set +e
        "$CNBENCH" compare "$OUT/$b-$t-a.json" "$OUT/$b-$t-b.json" > "$OUT/$b-$t.cmp" 2>&1
        code=$?
        set -e
        compared=$((compared + 1))
        [ "$code" = 1 ] && regressions=$((regressions + 1))
        printf 'trial %s  %-12s exit %s  %s\n' "$t" "$b" "$code" "$(grep '^verdict:' "$OUT/$b-$t.cmp" || tail -1 "$OUT/$b-$t.cmp")"
    done
done
echo "A/A: $compared comparisons, $regressions with a regression, $failed runs failed"
[ "$failed" -eq 0 ] || exit 2
[ "$regressions" -eq 0 ]
