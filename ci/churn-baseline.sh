#!/usr/bin/env bash
# ci/churn-baseline.sh: the cheapest pod churn the kernel tools allow, as the baseline for
# `cnbench churn` on the bridge backend. One node namespace holds a Linux bridge (cni0,
# 10.10.0.1/24); P pods are added to it C at a time (C `ip -batch` processes in parallel, one
# per pod, and a wait for all of them), then removed C at a time (`ip netns del`, which takes
# the veth pair with it), K cycles. The harness's overhead per pod is cnbench's figure minus
# this one.
#
#   ci/churn-baseline.sh [--pods 100] [--concurrency 8 | 1,8] [--cycles 5] [--json FILE]
#                        [--csv FILE]
#
# Everything it makes is named after its id, `bl` and 4 random hex digits: the node namespace
# cnb-<id>-n0, the pods' namespaces cnb-<id>-pN (N from 0) and its scratch folder
# /tmp/cnb-<id>.*; nothing is made in the machine's own namespace (each veth pair is made
# inside the node namespace with its peer straight into the pod's). Pod N: eth0 10.10.0.(N+2)/24
# with a default route via 10.10.0.1, its host end vethN on cni0, lo up, and
# net.ipv6.conf.{all,default}.disable_ipv6=1 in every namespace, as cnbench sets them. A pod's
# add is one `ip -batch` process: `netns add`, then three `netns exec` children (sysctl; `ip
# link add vethN master cni0 up type veth peer name eth0 netns POD` in the node; `ip -batch`
# in the pod for lo, the address, eth0 up and the default route).
#
# Times come from bash's EPOCHREALTIME (microseconds, read without starting a process):
# `date +%s%N` would fork and exec a process for every timestamp, about a millisecond of CPU
# on this machine that would land inside the measured adds and compete with them. Wired: from
# the start of a pod's batch of C until its own `ip -batch` exited. Removed: the same for its
# `ip netns del`. Pods/s added: P / (first add issued to last add finished) per cycle, the
# time of the ping check taken out; median over the cycles (odd count: the middle one; even:
# the mean of the two middle ones). Percentiles are nearest-rank over all pods of all cycles.
# `ip netns del` only unmounts the namespace: the kernel tears it (and the node's vethN) down
# afterwards, so before each next cycle the script waits until the node has no veth left and
# reports the longest such wait as veth_gone_max_ms (after the last delete finished).
#
# After the batch that leaves two pods wired in the first cycle (the first batch, or the
# second at C=1), pod p0 pings p1 once (p0 pings the bridge with --pods 1); no answer
# within a second fails the run.
#
# Output: a table per concurrency level, and for each level one line for ci/churn-* scripts:
#   churn-result tool=ip-batch id=<id> concurrency=C pods=P cycles=K wired_p50_ms=X
#     wired_p90_ms=X wired_p99_ms=X wired_max_ms=X removed_p50_ms=X pods_per_s_median=X
#     veth_gone_max_ms=X other_cpu_pct=N
# on one line: space-separated key=value, no spaces in a value, milliseconds with 3 decimals,
# pods/s with 1; keys may be added at the end, never renamed. other_cpu_pct is the CPU the
# rest of the machine used during the level, in % of all its cores (its busy time in
# /proc/stat less this script's and its children's): the kernel's deferred namespace teardown
# puts 5-10 % there on an idle machine; much more (a build) slows every figure, so compare
# runs only at similar values. --json FILE writes the same figures (and removed_max_ms, each
# cycle's pods/s, the load average at start) as {"tool":"ip-batch",...,"levels":[{...},...]};
# --csv FILE every pod's times (concurrency,cycle,pod,batch,wired_us,removed_us).
#
# Exit status: 0 done; 1 a command failed or the ping went unanswered; 2 bad options, not
# root, or a tool missing (said before anything is made). Needs root, iproute2, procps
# (sysctl) and iputils-ping. On exit, failure, SIGINT or SIGTERM it deletes every namespace
# carrying its id and its scratch folder. (Started with `&` from a non-interactive shell,
# bash ignores SIGINT in it; SIGTERM still works.)
set -euo pipefail
export LC_ALL=C

PODS=100
CONC=8
CYCLES=5
JSON=
CSV=
usage_err() { echo "churn-baseline: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --pods|--concurrency|--cycles|--json|--csv)
            [ $# -ge 2 ] || usage_err "$1 needs a value (see --help)"
            case "$1" in
                --pods) PODS=$2 ;;
                --concurrency) CONC=$2 ;;
                --cycles) CYCLES=$2 ;;
                --json) JSON=$2 ;;
                --csv) CSV=$2 ;;
            esac
            shift 2 ;;
        -h|--help) sed -n '2,54p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage_err "unknown option $1 (see --help)" ;;
    esac
done

# Everything is checked before anything is made.
is_count() { [[ $1 =~ ^[0-9]+$ ]] && [ "$((10#$1))" -ge 1 ]; }
is_count "$PODS" || usage_err "--pods $PODS: give a whole number of pods from 1 to 250"
PODS=$((10#$PODS))
[ "$PODS" -le 250 ] || usage_err "--pods $PODS is above 250 (pod addresses 10.10.0.2 to .251 of one /24): use --pods 250 or fewer"
is_count "$CYCLES" || usage_err "--cycles $CYCLES: give a whole number of cycles, 1 or more"
CYCLES=$((10#$CYCLES))
LEVELS=()
IFS=, read -r -a conc_list <<< "$CONC"
[ "${#conc_list[@]}" -ge 1 ] || usage_err "--concurrency is empty: give levels like 8 or 1,8"
for c in "${conc_list[@]}"; do
    is_count "$c" || usage_err "--concurrency $CONC: give whole numbers from 1 to --pods ($PODS), comma-separated, like 1,8"
    [ "$((10#$c))" -le "$PODS" ] || usage_err "--concurrency $c is above --pods $PODS: use at most $PODS, or more pods"
    LEVELS+=("$((10#$c))")
done
for f in "$JSON" "$CSV"; do
    [ -z "$f" ] || [ -d "$(dirname -- "$f")" ] || usage_err "$f: its folder $(dirname -- "$f") does not exist: create it or write elsewhere"
done
[ "$(id -u)" -eq 0 ] || usage_err "it creates network namespaces: run it as root"
for tool in ip sysctl ping; do
    command -v "$tool" > /dev/null || usage_err "$tool is not on PATH: apt-get install $(
        case $tool in ip) echo iproute2 ;; sysctl) echo procps ;; ping) echo iputils-ping ;; esac)"
done
[ -n "${EPOCHREALTIME:-}" ] || usage_err "this bash has no EPOCHREALTIME: run it with bash 5 or later"

# The id: `bl` and 4 random hex digits, one no namespace of this machine carries yet.
while :; do
    ID=bl$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
    compgen -G "/run/netns/cnb-$ID-*" > /dev/null || break
done
NODE=cnb-$ID-n0
WORK=

cleanup() {
    local code=$?
    trap - EXIT INT TERM
    # Adds or deletes still running finish first, so none makes a namespace after the sweep.
    wait 2> /dev/null || true
    local ns
    for ns in /run/netns/"cnb-$ID-"*; do
        [ -e "$ns" ] || continue
        ip netns del "${ns##*/}" 2> /dev/null || echo "churn-baseline: could not delete ${ns##*/}" >&2
    done
    [ -z "$WORK" ] || rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'echo "churn-baseline: interrupted; deleting cnb-$ID-*" >&2; exit 130' INT
trap 'echo "churn-baseline: terminated; deleting cnb-$ID-*" >&2; exit 143' TERM
fail() { echo "churn-baseline: $*" >&2; exit 1; }

WORK=$(mktemp -d "/tmp/cnb-$ID.XXXXXX")
SYSCTLS=(net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1)
read -r LOAD1 _ < /proc/loadavg
echo "churn-baseline $ID: pods $PODS, concurrency ${LEVELS[*]}, cycles $CYCLES (node $NODE); load average $LOAD1 at start"

# The node: its namespace, IPv6 off, lo up, the bridge with the pods' gateway address.
{
    ip netns add "$NODE"
    ip netns exec "$NODE" sysctl -qw "${SYSCTLS[@]}"
    ip -n "$NODE" link set lo up
    ip -n "$NODE" link add cni0 type bridge
    ip -n "$NODE" addr add 10.10.0.1/24 dev cni0
    ip -n "$NODE" link set cni0 up
} > "$WORK/node.err" 2>&1 || fail "making the node failed: $(tr '\n' ' ' < "$WORK/node.err")"

# Each pod's add, written once: the batch ip runs, and the batch it runs inside the pod.
for ((n = 0; n < PODS; n++)); do
    pod=cnb-$ID-p$n
    printf '%s\n' "link set lo up" "addr add 10.10.0.$((n + 2))/24 dev eth0" "link set eth0 up" \
        "route add default via 10.10.0.1" > "$WORK/pod-$n.batch"
    printf '%s\n' "netns add $pod" \
        "netns exec $pod sysctl -qw ${SYSCTLS[*]}" \
        "netns exec $NODE ip link add veth$n master cni0 up type veth peer name eth0 netns $pod" \
        "netns exec $pod ip -batch $WORK/pod-$n.batch" > "$WORK/add-$n.batch"
done

# Runs `what` (add or del) for pods first..first+count-1 in parallel and waits for all; each
# writes its end time (µs) to WORK/<what>-N.end. Sets BATCH_START (µs).
run_batch() {
    local what=$1 first=$2 count=$3 n pids=() bad=()
    BATCH_START=${EPOCHREALTIME//[!0-9]/}
    for ((n = first; n < first + count; n++)); do
        if [ "$what" = add ]; then
            { ip -batch "$WORK/add-$n.batch" && echo "${EPOCHREALTIME//[!0-9]/}" > "$WORK/add-$n.end"; } \
                > "$WORK/add-$n.err" 2>&1 &
        else
            { ip netns del "cnb-$ID-p$n" && echo "${EPOCHREALTIME//[!0-9]/}" > "$WORK/del-$n.end"; } \
                > "$WORK/del-$n.err" 2>&1 &
        fi
        pids+=("$!")
    done
    for ((n = 0; n < count; n++)); do
        wait "${pids[n]}" || bad+=("$((first + n))")
    done
    for n in "${bad[@]}"; do
        fail "$what of pod p$n failed: $(tr '\n' ' ' < "$WORK/$what-$n.err")"
    done
}

# Nearest-rank percentiles of the µs values in a file, in ms: "p50 p90 p99 max".
percentiles() {
    sort -n "$1" | awk '{ v[NR] = $1 }
        function rank(p,   i) { i = int(p * NR / 100); if (i < p * NR / 100) i++; return v[i < 1 ? 1 : i] }
        END { printf "%.3f %.3f %.3f %.3f\n", rank(50) / 1000, rank(90) / 1000, rank(99) / 1000, v[NR] / 1000 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# CPU seconds so far: the whole machine's busy time (/proc/stat, every core) and this script's
# with its children (`times`); what the machine spent beyond this script during a level is
# other work (builds, other runs, and the kernel's deferred namespace teardown), which slows
# every figure here.
CORES=$(nproc)
cpu_now() {
    local _cpu user nice sys irq softirq steal
    read -r _cpu user nice sys _ _ irq softirq steal _ < /proc/stat
    MACHINE_CPU=$(((user + nice + sys + irq + softirq + steal) * 1000 / $(getconf CLK_TCK)))
    times > "$WORK/times" # not in a subshell: a forked shell's times start from zero
    OWN_CPU=$(awk '{ for (i = 1; i <= NF; i++) { split($i, t, /[ms]/); ms += (t[1] * 60 + t[2]) * 1000 } }
        END { printf "%d", ms }' "$WORK/times")
}

pinged=0
[ -z "$CSV" ] || echo "concurrency,cycle,pod,batch,wired_us,removed_us" > "$CSV"
JSON_LEVELS=()
for C in "${LEVELS[@]}"; do
    : > "$WORK/wired.us"
    : > "$WORK/removed.us"
    : > "$WORK/rate.s"
    gone_max=0
    cpu_now
    level_start=${EPOCHREALTIME//[!0-9]/} machine0=$MACHINE_CPU own0=$OWN_CPU
    for ((k = 1; k <= CYCLES; k++)); do
        first_issued=
        last_done=0
        paused=0
        batch_of=() wired=() removed=()
        for ((b = 0; b * C < PODS; b++)); do
            first=$((b * C))
            count=$((PODS - first < C ? PODS - first : C))
            run_batch add "$first" "$count"
            [ -n "$first_issued" ] || first_issued=$BATCH_START
            for ((n = first; n < first + count; n++)); do
                read -r end < "$WORK/add-$n.end"
                wired[n]=$((end - BATCH_START))
                batch_of[n]=$b
                [ "$end" -le "$last_done" ] || last_done=$end
            done
            if [ "$pinged" -eq 0 ] && { [ $((first + count)) -ge 2 ] || [ "$PODS" -eq 1 ]; }; then
                ping_start=${EPOCHREALTIME//[!0-9]/}
                target=10.10.0.3
                [ "$PODS" -ge 2 ] || target=10.10.0.1
                ip netns exec "cnb-$ID-p0" ping -c1 -W1 "$target" > "$WORK/ping.out" 2>&1 \
                    || fail "pod p0 (10.10.0.2) got no answer from $target over cni0: the bridge does not forward; $(tail -n 2 "$WORK/ping.out" | tr '\n' ' ' | sed 's/ *$//')"
                echo "  check: p0 -> $target answered over cni0"
                pinged=1
                paused=$((${EPOCHREALTIME//[!0-9]/} - ping_start))
            fi
        done
        span=$((last_done - first_issued - paused))
        awk -v p="$PODS" -v s="$span" 'BEGIN { printf "%.3f\n", p * 1e6 / s }' >> "$WORK/rate.s"

        del_last=0
        for ((b = 0; b * C < PODS; b++)); do
            first=$((b * C))
            count=$((PODS - first < C ? PODS - first : C))
            run_batch del "$first" "$count"
            for ((n = first; n < first + count; n++)); do
                read -r end < "$WORK/del-$n.end"
                removed[n]=$((end - BATCH_START))
                [ "$end" -le "$del_last" ] || del_last=$end
            done
        done
        # The kernel tears the namespaces down after `ip netns del`: the next cycle reuses the
        # names vethN, so wait until the node has none left (at most a minute).
        while [ -n "$(ip -n "$NODE" -o link show type veth)" ]; do
            [ $((${EPOCHREALTIME//[!0-9]/} - del_last)) -lt 60000000 ] \
                || fail "the node still has veths a minute after their pods' namespaces were deleted"
            sleep 0.005
        done
        gone=$((${EPOCHREALTIME//[!0-9]/} - del_last))
        [ "$gone" -le "$gone_max" ] || gone_max=$gone

        for ((n = 0; n < PODS; n++)); do
            echo "${wired[$n]}" >> "$WORK/wired.us"
            echo "${removed[$n]}" >> "$WORK/removed.us"
            [ -z "$CSV" ] || echo "$C,$k,$n,${batch_of[$n]},${wired[$n]},${removed[$n]}" >> "$CSV"
        done
        printf '  c=%d cycle %d: %.1f pods/s added, adds %.1f ms, last veth gone %.1f ms after the last delete\n' \
            "$C" "$k" "$(tail -n 1 "$WORK/rate.s")" "$(awk -v s="$span" 'BEGIN { print s / 1000 }')" \
            "$(awk -v g="$gone" 'BEGIN { print g / 1000 }')"
    done

    cpu_now
    other=$(awk -v m=$((MACHINE_CPU - machine0)) -v o=$((OWN_CPU - own0)) -v c="$CORES" \
        -v w=$((${EPOCHREALTIME//[!0-9]/} - level_start)) \
        'BEGIN { x = (m - o) * 1000 * 100 / (w * c); printf "%.0f", x < 0 ? 0 : x }')
    read -r w50 w90 w99 wmax <<< "$(percentiles "$WORK/wired.us")"
    read -r r50 _ _ rmax <<< "$(percentiles "$WORK/removed.us")"
    rate=$(median < "$WORK/rate.s")
    gone_ms=$(awk -v g="$gone_max" 'BEGIN { printf "%.3f", g / 1000 }')
    rates=$(paste -sd, "$WORK/rate.s")
    echo "concurrency $C ($PODS pods x $CYCLES cycles = $((PODS * CYCLES)) adds):"
    printf '  %-24s %10s %10s %10s %10s\n' "" p50 p90 p99 max
    printf '  %-24s %10s %10s %10s %10s\n' "wired (ms)" "$w50" "$w90" "$w99" "$wmax"
    printf '  %-24s %10s %10s %10s %10s\n' "removed (ms)" "$r50" "" "" "$rmax"
    printf '  pods/s added: median %s (cycles: %s)\n' "$rate" "$rates"
    echo "  other work on the machine meanwhile: $other % of its $CORES cores"
    echo "churn-result tool=ip-batch id=$ID concurrency=$C pods=$PODS cycles=$CYCLES wired_p50_ms=$w50 wired_p90_ms=$w90 wired_p99_ms=$w99 wired_max_ms=$wmax removed_p50_ms=$r50 pods_per_s_median=$rate veth_gone_max_ms=$gone_ms other_cpu_pct=$other"
    JSON_LEVELS+=("{\"concurrency\":$C,\"wired_p50_ms\":$w50,\"wired_p90_ms\":$w90,\"wired_p99_ms\":$w99,\"wired_max_ms\":$wmax,\"removed_p50_ms\":$r50,\"removed_max_ms\":$rmax,\"pods_per_s_median\":$rate,\"pods_per_s_cycles\":[$rates],\"veth_gone_max_ms\":$gone_ms,\"other_cpu_pct\":$other}")
done

if [ -n "$JSON" ]; then
    levels=$(IFS=,; echo "${JSON_LEVELS[*]}")
    printf '{"tool":"ip-batch","id":"%s","pods":%d,"cycles":%d,"clock":"EPOCHREALTIME","percentiles":"nearest-rank","loadavg_1m_at_start":%s,"levels":[%s]}\n' \
        "$ID" "$PODS" "$CYCLES" "$LOAD1" "$levels" > "$JSON"
    echo "churn-baseline: figures in $JSON"
fi
