#!/usr/bin/env bash
# ci/vm-ready.sh: how long a VM pair takes to be ready, over N runs of
#   cnbench run --backend B --substrate vm --workloads none
# Two figures per run, from the run's own output: "boot" is from the first QEMU start to the
# last agent's welcome (cnbench prints it), "setup" from the command's start to a pair whose
# backend is built and whose links carry packets (the result's timings.setup_ns: initramfs,
# boots, namespaces, underlay, backend). Prints the median, min and max of each, and the
# checks of every run (all must pass).
#
#   ci/vm-ready.sh [--backend B] [--runs N]      (defaults: ipip, 5)
#
# Needs root and `cnbench setup vm`. Builds the release binary unless CNBENCH names one.
# Under emulation these are behaviour figures of this machine: compare them only with runs
# of the same script on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=ipip
RUNS=5
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) BACKEND=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        *) echo "ci/vm-ready.sh: unknown option $1 (use --backend B, --runs N)" >&2; exit 2 ;;
    esac
done
if [ -z "${CNBENCH:-}" ]; then
    cargo build --release --quiet --bin cnbench
    CNBENCH=target/release/cnbench
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
boots=()
setups=()
for i in $(seq 1 "$RUNS"); do
    if ! "$CNBENCH" run --backend "$BACKEND" --substrate vm --workloads none \
        --json "$dir/$i.json" > "$dir/$i.out" 2> "$dir/$i.err"; then
        echo "ci/vm-ready.sh: run $i failed:" >&2
        tail -5 "$dir/$i.out" "$dir/$i.err" >&2
        exit 1
    fi
    boot=$(sed -n 's/.*ready in \([0-9.]*\) s.*/\1/p' "$dir/$i.err")
    setup=$(grep -o '"setup_ns": *[0-9]*' "$dir/$i.json" | grep -o '[0-9]*$')
    checks=$(grep '^checks:' "$dir/$i.out")
    boots+=("$boot")
    setups+=("$(awk -v ns="$setup" 'BEGIN { printf "%.2f", ns / 1e9 }')")
    echo "run $i: boot ${boot} s, setup ${setups[-1]} s, $checks"
done

stats() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %.2f s, min %.2f s, max %.2f s", m, v[1], v[NR] }'
}
echo "$BACKEND on 2 VMs, $RUNS runs:"
echo "  boot (first QEMU start to last agent welcome): $(stats "${boots[@]}")"
echo "  setup (command start to a ready pair):         $(stats "${setups[@]}")"
