#!/usr/bin/env bash
# ci/compare-generators.sh — check cnbench's own traffic generator against iperf3 and sockperf.
#
# For every backend in a list (default: host-net bridge) this script
#   1. stands up ONE topology with `cnbench up --backend B`,
#   2. on that same path, in the same session, runs R rounds (default 3) of
#        - cnbench's generator:  `cnbench measure <run> --repeat 1 --json ...`
#                                (tcp-stream: 128 KiB writes, 1 stream; tcp-rr: 64 B ping-pong),
#        - iperf3:  server `iperf3 -s -1` in the server pod, client
#                   `iperf3 -c IP -t D -O W -l 128K --json` in the client pod;
#                   the figure is the receiver's bits_per_second (.end.sum_received),
#        - sockperf: server `sockperf server --tcp` in the server pod, client
#                   `sockperf ping-pong --tcp -t D -m 64` in the client pod; the figure is the
#                   p50 of the FULL round trip (`--full-rtt` when this sockperf has it,
#                   otherwise its half-round-trip p50 doubled),
#      interleaved (the order rotates every round, round 1 starts with cnbench),
#   3. takes the median over the rounds of every figure and prints, per backend:
#        cnbench tcp-stream median vs iperf3 median   -> PASS if cnbench >= 0.90 x iperf3
#        cnbench tcp-rr p50 median vs sockperf p50    -> PASS if cnbench <= 1.10 x sockperf
#   4. tears the topology down (`cnbench down <run>`).
#
# Pinning: iperf3 and sockperf get exactly the CPUs cnbench uses for the chosen placement
# (`taskset -c`): same-cpu = client and server on the LAST CPU of the allowed set, cross-cpu =
# client on allowed[0], server on allowed[1]. The allowed set is this script's affinity (which
# cnbench inherits); after the first cnbench round the CPUs it reports in its JSON are used
# (a warning is printed if they differ from the expectation).
# Client pod, server pod and server IP are taken from cnbench's JSON (measurements[].client /
# .server), so any backend whose `cnbench measure` works can be compared.
#
# Safety: all traffic goes between the run's own namespaces (ip netns exec). Every process this
# script starts is tracked by PID and killed by PID on exit, Ctrl-C or TERM (never by name), and
# every topology it stood up is torn down with `cnbench down`.
#
# Needs root. Installs iperf3, sockperf, jq (apt-get) when missing and builds
# target/release/cnbench (cargo build --release) when it is missing.
#
# Exit status: 0 all targets met, 1 a target failed, 2 usage error, 3 setup/measurement error.

set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ci/compare-generators.sh [OPTIONS]

Compare cnbench's tcp-stream / tcp-rr generator with iperf3 / sockperf on the same
standing topology, same pinning, same session.

Options:
  --backends LIST     backends to compare, comma- or space-separated (default: host-net,bridge)
  --duration S        measured window per run, seconds (default: 5)
  --warmup S          warm-up before each window, seconds (default: 1)
  --rounds N          interleaved rounds of cnbench, iperf3, sockperf (default: 3)
  --placement P       same-cpu | cross-cpu (default: same-cpu)
  --out DIR           keep every raw output (JSON, logs) in DIR (default: temp dir, removed)
  -h, --help          show this text

Targets: cnbench tcp-stream median >= 0.90 x iperf3 median;
         cnbench tcp-rr p50 median    <= 1.10 x sockperf p50 (full round trip) median.
Environment: CNBENCH=/path/to/cnbench overrides target/release/cnbench.
Exit status: 0 all PASS, 1 some FAIL, 2 usage error, 3 setup or measurement error.
EOF
}

STREAM_MIN_RATIO=0.90
RR_MAX_RATIO=1.10
IPERF_PORT=5201
SOCKPERF_PORT=11111

BACKENDS="host-net,bridge"
DURATION=5
WARMUP=1
ROUNDS=3
PLACEMENT=same-cpu
OUT_DIR=""

# The script's own stdout/stderr, kept on fds 3/4: a trap can run while a command's output is
# redirected to a file, and its messages must still reach the user.
exec 3>&1 4>&2
die() { echo "compare-generators: error: $*" >&4; exit 3; }
usage_err() { echo "compare-generators: $*" >&4; echo >&4; usage >&4; exit 2; }
log() { echo "compare-generators: $*" >&4; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --backends) [[ $# -ge 2 ]] || usage_err "--backends needs a value"; BACKENDS="$2"; shift 2 ;;
        --backends=*) BACKENDS="${1#*=}"; shift ;;
        --duration) [[ $# -ge 2 ]] || usage_err "--duration needs a value"; DURATION="$2"; shift 2 ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        --warmup) [[ $# -ge 2 ]] || usage_err "--warmup needs a value"; WARMUP="$2"; shift 2 ;;
        --warmup=*) WARMUP="${1#*=}"; shift ;;
        --rounds) [[ $# -ge 2 ]] || usage_err "--rounds needs a value"; ROUNDS="$2"; shift 2 ;;
        --rounds=*) ROUNDS="${1#*=}"; shift ;;
        --placement) [[ $# -ge 2 ]] || usage_err "--placement needs a value"; PLACEMENT="$2"; shift 2 ;;
        --placement=*) PLACEMENT="${1#*=}"; shift ;;
        --out) [[ $# -ge 2 ]] || usage_err "--out needs a value"; OUT_DIR="$2"; shift 2 ;;
        --out=*) OUT_DIR="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage_err "unknown argument: $1" ;;
    esac
done

# ---- validate input before touching anything ------------------------------------------------
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || usage_err "--duration must be a whole number of seconds >= 1"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || usage_err "--warmup must be a whole number of seconds >= 0"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || usage_err "--rounds must be a whole number >= 1"
case "$PLACEMENT" in same-cpu|cross-cpu) ;; *) usage_err "--placement must be same-cpu or cross-cpu" ;; esac
read -r -a BACKEND_LIST <<<"${BACKENDS//,/ }"
[[ ${#BACKEND_LIST[@]} -ge 1 ]] || usage_err "--backends is empty"
for b in "${BACKEND_LIST[@]}"; do
    [[ "$b" =~ ^[a-z0-9][a-z0-9-]*$ ]] || usage_err "bad backend name: $b"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (namespaces, ip netns exec)"

# ---- state for cleanup ----------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
CNBENCH="${CNBENCH:-$REPO_DIR/target/release/cnbench}"
PIDS=()          # every background process this script started (servers and clients)
RUNS=()          # every run id this script stood up and has not yet torn down
PENDING_UP_LOG=""  # output of a `cnbench up` whose run id is not yet in RUNS
WORK=""
KEEP_WORK=0
CLEANED=0

# Kill one PID (and, first, its direct children, found by PID in /proc) and reap it.
kill_pid() {
    local pid="$1" child
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
            kill -TERM "$child" 2>/dev/null || true
        done
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            # a zombie child counts as gone: wait reaps it below
            [[ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" == Z ]] && break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    local pid="$1" p keep=()
    for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

teardown_run() {
    local run="$1" r keep=() left
    "$CNBENCH" down "$run" >"${WORK:-/tmp}/down-$run.log" 2>&1 \
        || log "warning: cnbench down $run failed: $(tail -n 3 "${WORK:-/tmp}/down-$run.log" | tr '\n' ' ')"
    left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^cnb-${run}-" || true)
    [[ -z "$left" ]] || log "warning: namespaces of run $run still exist after cnbench down: $(echo $left)"
    for r in "${RUNS[@]}"; do [[ "$r" == "$run" ]] || keep+=("$r"); done
    RUNS=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
    local rc=$?
    [[ $CLEANED -eq 0 ]] || return 0
    CLEANED=1
    trap '' INT TERM   # a second Ctrl-C must not stop the teardown half-way
    exec 1>&3 2>&4
    local pid run
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill_pid "$pid"; done
    PIDS=()
    # a signal between `cnbench up` finishing and its run id being recorded
    if [[ -n "$PENDING_UP_LOG" && -f "$PENDING_UP_LOG" ]]; then
        run=$(sed -n 's/^run \([A-Za-z0-9_-]*\) is up.*/\1/p' "$PENDING_UP_LOG" | head -n1)
        [[ -z "$run" || " ${RUNS[*]+"${RUNS[*]}"} " == *" $run "* ]] || RUNS+=("$run")
    fi
    for run in "${RUNS[@]+"${RUNS[@]}"}"; do
        log "tearing down run $run"
        teardown_run "$run"
    done
    if [[ -n "$WORK" && $KEEP_WORK -eq 0 ]]; then rm -rf "$WORK"; fi
    return $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

if [[ -n "$OUT_DIR" ]]; then
    mkdir -p "$OUT_DIR"; WORK="$(cd "$OUT_DIR" && pwd)"; KEEP_WORK=1
else
    WORK="$(mktemp -d /tmp/cnbench-compare.XXXXXX)"
fi

# Run a command in the background, tracked by PID, and wait for it (so INT/TERM are handled at
# once and the trap can kill it). Returns the command's status.
run_tracked() {
    local pid rc=0
    "$@" 3>&- 4>&- &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return $rc
}

# ---- dependencies ---------------------------------------------------------------------------
ensure_tools() {
    local missing=() t
    command -v iperf3 >/dev/null 2>&1 || missing+=(iperf3)
    command -v sockperf >/dev/null 2>&1 || missing+=(sockperf)
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
    command -v ss >/dev/null 2>&1 || missing+=(iproute2)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    [[ ${#missing[@]} -gt 0 ]] || return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update -q >&2 || die "apt-get update failed"
    fi
    if ! apt-get install -y -q "${missing[@]}" >&2; then
        apt-get update -q >&2 || die "apt-get update failed"
        apt-get install -y -q "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
    fi
    for t in iperf3 sockperf jq taskset ss ip; do
        command -v "$t" >/dev/null 2>&1 || die "$t still missing after apt-get install"
    done
}

ensure_cnbench() {
    if [[ ! -x "$CNBENCH" ]]; then
        [[ "$CNBENCH" == "$REPO_DIR/target/release/cnbench" ]] || die "CNBENCH=$CNBENCH is not executable"
        command -v cargo >/dev/null 2>&1 || die "target/release/cnbench is missing and cargo is not installed"
        log "building cnbench (cargo build --release)"
        (cd "$REPO_DIR" && cargo build --release >&2) || die "cargo build --release failed"
        [[ -x "$CNBENCH" ]] || die "cargo build finished but $CNBENCH does not exist"
    fi
}

ensure_tools
ensure_cnbench

# sockperf: full round trip directly, or half round trip to double?
SOCKPERF_VERSION="$(sockperf --version 2>&1 | sed -n 's/.*version \([^ ,]*\).*/\1/p' | head -n1)"
if sockperf ping-pong --help 2>&1 | grep -q -- '--full-rtt'; then
    SOCKPERF_RTT_ARGS=(--full-rtt); SOCKPERF_FACTOR=1
    SOCKPERF_RTT_NOTE="--full-rtt (p50 is the full round trip)"
else
    SOCKPERF_RTT_ARGS=(); SOCKPERF_FACTOR=2
    SOCKPERF_RTT_NOTE="no --full-rtt: half-round-trip p50 x 2"
fi
IPERF_VERSION="$(iperf3 --version 2>&1 | head -n1 | awk '{print $2}')"

# ---- CPUs cnbench uses for the placement ----------------------------------------------------
expand_cpu_list() {  # "0-3,6" -> "0 1 2 3 6"
    local part a b out=()
    IFS=',' read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ "$part" == *-* ]]; then a=${part%-*}; b=${part#*-}; out+=($(seq "$a" "$b"))
        else out+=("$part"); fi
    done
    echo "${out[@]}"
}
read -r -a ALLOWED <<<"$(expand_cpu_list "$(awk '/^Cpus_allowed_list:/{print $2}' /proc/self/status)")"
[[ ${#ALLOWED[@]} -ge 1 ]] || die "cannot read this process's allowed CPUs"
if [[ "$PLACEMENT" == same-cpu ]]; then
    EXP_CLIENT_CPU=${ALLOWED[-1]}; EXP_SERVER_CPU=${ALLOWED[-1]}
else
    [[ ${#ALLOWED[@]} -ge 2 ]] || die "cross-cpu needs two allowed CPUs, have: ${ALLOWED[*]}"
    EXP_CLIENT_CPU=${ALLOWED[0]}; EXP_SERVER_CPU=${ALLOWED[1]}
fi

# ---- helpers --------------------------------------------------------------------------------
median() {  # numbers as arguments -> median
    printf '%s\n' "$@" | jq -s 'sort | if length == 0 then null
        elif length % 2 == 1 then .[length/2|floor]
        else (.[length/2 - 1] + .[length/2]) / 2 end'
}

wait_listening() {  # netns port pid -> 0 when something listens on TCP port in netns
    local ns="$1" port="$2" pid="$3" i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if ip netns exec "$ns" ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
        sleep 0.05
    done
    return 1
}

# Start a server in the background (tracked), echo nothing; sets SERVER_PID.
start_server() {  # logfile cmd...
    local logf="$1"; shift
    "$@" >"$logf" 2>&1 3>&- 4>&- &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

stop_server() {
    kill_pid "$1"
    forget_pid "$1"
}

# ---- one generator run each (sets a global result) ------------------------------------------
CLIENT_NS=""; SERVER_NS=""; SERVER_IP=""; CLIENT_CPU="$EXP_CLIENT_CPU"; SERVER_CPU="$EXP_SERVER_CPU"
CNB_STREAM=(); CNB_RR=(); IPERF=(); SOCK=()

gen_cnbench() {  # run round
    local run="$1" r="$2" json="$WORK/$1-cnbench-$2.json" logf="$WORK/$1-cnbench-$2.log" v
    run_tracked "$CNBENCH" measure "$run" --workloads tcp-stream,tcp-rr \
        --duration "$DURATION" --warmup "$WARMUP" --repeat 1 --placement "$PLACEMENT" \
        --json "$json" >"$logf" 2>&1 || { cat "$logf" >&2; die "cnbench measure $run failed (round $r)"; }
    [[ -s "$json" ]] || die "cnbench measure wrote no JSON ($json)"
    v=$(jq -e '[.measurements[] | select(.workload=="tcp-stream") | .repetitions[].throughput_bps][0]' "$json") \
        || die "no tcp-stream throughput_bps in $json"
    CNB_STREAM+=("$v")
    v=$(jq -e '[.measurements[] | select(.workload=="tcp-rr") | .repetitions[].rtt_p50_ns][0]' "$json") \
        || die "no tcp-rr rtt_p50_ns in $json"
    CNB_RR+=("$v")
    # endpoints and CPUs as cnbench used them
    local m cns sns sip ccpu scpu
    m=$(jq -c '[.measurements[] | select(.workload=="tcp-stream")][0]' "$json")
    cns=$(jq -r '.client.netns' <<<"$m"); sns=$(jq -r '.server.netns' <<<"$m"); sip=$(jq -r '.server.ip' <<<"$m")
    ccpu=$(jq -r '.placement.client_cpu' <<<"$m"); scpu=$(jq -r '.placement.server_cpu' <<<"$m")
    [[ "$cns" =~ ^cnb-${run}- && "$sns" =~ ^cnb-${run}- ]] \
        || die "cnbench JSON names namespaces outside run $run: $cns $sns"
    if [[ -z "$SERVER_NS" ]]; then
        CLIENT_NS="$cns"; SERVER_NS="$sns"; SERVER_IP="$sip"
        if [[ "$ccpu" != "$EXP_CLIENT_CPU" || "$scpu" != "$EXP_SERVER_CPU" ]]; then
            log "warning: cnbench pinned client/server to CPU $ccpu/$scpu, expected $EXP_CLIENT_CPU/$EXP_SERVER_CPU for $PLACEMENT over allowed CPUs ${ALLOWED[*]}; iperf3/sockperf follow cnbench"
        fi
        CLIENT_CPU="$ccpu"; SERVER_CPU="$scpu"
    elif [[ "$cns/$sns/$sip/$ccpu/$scpu" != "$CLIENT_NS/$SERVER_NS/$SERVER_IP/$CLIENT_CPU/$SERVER_CPU" ]]; then
        log "warning: round $r: cnbench used $cns -> $sns ($sip) on CPU $ccpu/$scpu, round 1 used $CLIENT_NS -> $SERVER_NS ($SERVER_IP) on CPU $CLIENT_CPU/$SERVER_CPU"
    fi
    # the tcp-rr endpoints must be the same pair
    local rcns rsns
    rcns=$(jq -r '[.measurements[] | select(.workload=="tcp-rr")][0].client.netns' "$json")
    rsns=$(jq -r '[.measurements[] | select(.workload=="tcp-rr")][0].server.netns' "$json")
    [[ "$rcns/$rsns" == "$cns/$sns" ]] || log "warning: tcp-rr ran $rcns -> $rsns but tcp-stream $cns -> $sns"
}

gen_iperf3() {
    local run="$1" r="$2" json="$WORK/$1-iperf3-$2.json" slog="$WORK/$1-iperf3-server-$2.log" v rc=0
    start_server "$slog" ip netns exec "$SERVER_NS" taskset -c "$SERVER_CPU" \
        iperf3 -s -1 -B "$SERVER_IP" -p "$IPERF_PORT"
    local spid=$SERVER_PID
    wait_listening "$SERVER_NS" "$IPERF_PORT" "$spid" || { cat "$slog" >&2; die "iperf3 server did not start in $SERVER_NS"; }
    run_tracked ip netns exec "$CLIENT_NS" taskset -c "$CLIENT_CPU" \
        iperf3 -c "$SERVER_IP" -p "$IPERF_PORT" -t "$DURATION" -O "$WARMUP" -l 128K --json \
        >"$json" 2>"$WORK/$1-iperf3-$2.err" || rc=$?
    stop_server "$spid"
    [[ $rc -eq 0 ]] || { cat "$json" "$WORK/$1-iperf3-$2.err" >&2; die "iperf3 client failed (round $r)"; }
    v=$(jq -e '.end.sum_received.bits_per_second' "$json") || die "no .end.sum_received.bits_per_second in $json"
    IPERF+=("$v")
}

gen_sockperf() {
    local run="$1" r="$2" out="$WORK/$1-sockperf-$2.log" slog="$WORK/$1-sockperf-server-$2.log" v rc=0
    start_server "$slog" ip netns exec "$SERVER_NS" taskset -c "$SERVER_CPU" \
        sockperf server --tcp -i "$SERVER_IP" -p "$SOCKPERF_PORT"
    local spid=$SERVER_PID
    wait_listening "$SERVER_NS" "$SOCKPERF_PORT" "$spid" || { cat "$slog" >&2; die "sockperf server did not start in $SERVER_NS"; }
    run_tracked ip netns exec "$CLIENT_NS" taskset -c "$CLIENT_CPU" \
        sockperf ping-pong --tcp -i "$SERVER_IP" -p "$SOCKPERF_PORT" -t "$DURATION" -m 64 \
        "${SOCKPERF_RTT_ARGS[@]+"${SOCKPERF_RTT_ARGS[@]}"}" >"$out" 2>&1 || rc=$?
    stop_server "$spid"
    [[ $rc -eq 0 ]] || { cat "$out" >&2; die "sockperf ping-pong failed (round $r)"; }
    # "sockperf: ---> percentile 50.000 =    5.535"  (usec; colour codes stripped)
    v=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '/percentile 50\.000 =/ {print $NF; exit}')
    [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { cat "$out" >&2; die "no p50 in sockperf output (round $r)"; }
    SOCK+=("$(awk -v u="$v" -v f="$SOCKPERF_FACTOR" 'BEGIN{printf "%.0f", u * 1000 * f}')")
}

# ---- per backend ----------------------------------------------------------------------------
FAILED=0
REPORT=""

fmt_gbps() { awk -v x="$1" 'BEGIN{printf "%.2f Gbit/s", x / 1e9}'; }
fmt_us() { awk -v x="$1" 'BEGIN{printf "%.2f us", x / 1e3}'; }
list_gbps() { local x o=""; for x in "$@"; do o+="$(awk -v x="$x" 'BEGIN{printf "%.2f", x/1e9}') "; done; echo "${o% }"; }
list_us() { local x o=""; for x in "$@"; do o+="$(awk -v x="$x" 'BEGIN{printf "%.2f", x/1e3}') "; done; echo "${o% }"; }

compare_backend() {
    local backend="$1"
    local up_log="$WORK/up-$backend.log" run r i g
    log "[$backend] cnbench up --backend $backend"
    PENDING_UP_LOG="$up_log"
    if ! run_tracked "$CNBENCH" up --backend "$backend" >"$up_log" 2>&1; then
        cat "$up_log" >&2
        die "cnbench up --backend $backend failed"
    fi
    run=$(sed -n 's/^run \([A-Za-z0-9_-]*\) is up.*/\1/p' "$up_log" | head -n1)
    [[ -n "$run" ]] || { cat "$up_log" >&2; die "could not find 'run <id> is up' in cnbench up output"; }
    RUNS+=("$run")
    PENDING_UP_LOG=""
    log "[$backend] run $run is up"

    CLIENT_NS=""; SERVER_NS=""; SERVER_IP=""; CLIENT_CPU="$EXP_CLIENT_CPU"; SERVER_CPU="$EXP_SERVER_CPU"
    CNB_STREAM=(); CNB_RR=(); IPERF=(); SOCK=()
    local gens=(cnbench iperf3 sockperf) order
    for ((r = 1; r <= ROUNDS; r++)); do
        order=()
        for ((i = 0; i < 3; i++)); do order+=("${gens[$(((i + r - 1) % 3))]}"); done
        for g in "${order[@]}"; do
            log "[$backend] round $r/$ROUNDS: $g"
            "gen_$g" "$run" "$r"
        done
    done

    local m_cs m_cr m_ip m_sp rs rr vs vr
    m_cs=$(median "${CNB_STREAM[@]}"); m_ip=$(median "${IPERF[@]}")
    m_cr=$(median "${CNB_RR[@]}");     m_sp=$(median "${SOCK[@]}")
    rs=$(awk -v a="$m_cs" -v b="$m_ip" 'BEGIN{printf "%.3f", a / b}')
    rr=$(awk -v a="$m_cr" -v b="$m_sp" 'BEGIN{printf "%.3f", a / b}')
    vs=$(awk -v a="$m_cs" -v b="$m_ip" -v t="$STREAM_MIN_RATIO" 'BEGIN{print (a >= t * b) ? "PASS" : "FAIL"}')
    vr=$(awk -v a="$m_cr" -v b="$m_sp" -v t="$RR_MAX_RATIO" 'BEGIN{print (a <= t * b) ? "PASS" : "FAIL"}')
    [[ "$vs" == PASS && "$vr" == PASS ]] || FAILED=1

    local t
    t=$(printf '\n== backend %s (run %s): %s -> %s (%s), %s, client CPU %s, server CPU %s, %s rounds of %ss (+%ss warm-up)\n' \
        "$backend" "$run" "${CLIENT_NS#cnb-"$run"-}" "${SERVER_NS#cnb-"$run"-}" "$SERVER_IP" "$PLACEMENT" \
        "$CLIENT_CPU" "$SERVER_CPU" "$ROUNDS" "$DURATION" "$WARMUP")
    t+=$(printf '\n%-24s %14s  %-9s %14s  %6s  %-26s %s' "metric" "cnbench" "vs" "reference" "ratio" "target" "result")
    t+=$(printf '\n%-24s %14s  %-9s %14s  %6s  %-26s %s' "tcp-stream throughput" "$(fmt_gbps "$m_cs")" "iperf3" \
        "$(fmt_gbps "$m_ip")" "$rs" ">= $STREAM_MIN_RATIO x iperf3" "$vs")
    t+=$(printf '\n%-24s %14s  %-9s %14s  %6s  %-26s %s' "tcp-rr p50 round trip" "$(fmt_us "$m_cr")" "sockperf" \
        "$(fmt_us "$m_sp")" "$rr" "<= $RR_MAX_RATIO x sockperf" "$vr")
    t+=$(printf '\n  per round: cnbench stream [%s] Gbit/s, iperf3 [%s] Gbit/s' "$(list_gbps "${CNB_STREAM[@]}")" "$(list_gbps "${IPERF[@]}")")
    t+=$(printf '\n             cnbench rr p50 [%s] us, sockperf p50 [%s] us' "$(list_us "${CNB_RR[@]}")" "$(list_us "${SOCK[@]}")")
    REPORT+="$t"$'\n'
    printf '%s\n' "$t" >&4   # progress; the final summary on stdout repeats it

    log "[$backend] cnbench down $run"
    teardown_run "$run"
}

log "cnbench $("$CNBENCH" --version 2>/dev/null | awk '{print $2}'), iperf3 $IPERF_VERSION, sockperf $SOCKPERF_VERSION ($SOCKPERF_RTT_NOTE)"
log "allowed CPUs ${ALLOWED[*]}, placement $PLACEMENT, load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $KEEP_WORK -eq 0 ]] || log "raw outputs in $WORK"

for b in "${BACKEND_LIST[@]}"; do compare_backend "$b"; done

echo
echo "==== summary: cnbench generator vs iperf3 / sockperf (medians of $ROUNDS interleaved rounds) ===="
echo "tools: iperf3 $IPERF_VERSION; sockperf $SOCKPERF_VERSION, $SOCKPERF_RTT_NOTE; placement $PLACEMENT"
printf '%s' "$REPORT"
if [[ $FAILED -ne 0 ]]; then
    echo; echo "RESULT: FAIL (a target was missed)"
    exit 1
fi
echo; echo "RESULT: PASS"
exit 0
