#!/usr/bin/env bash
# ci/compare-generators.sh — check cnbench's own traffic generator against iperf3 and sockperf.
#
# For every backend that `cnbench list` shows as ready (or the ones given with --backends), in
# one session, this script runs R rounds (default 3) of
#   - tcp-stream and udp-stream: cnbench's generator and iperf3,
#   - tcp-rr and udp-rr:         cnbench's generator and sockperf,
# each one `cnbench run -b B --generator G --workloads W --repeat 1 --no-baseline --json F`,
# so the external tools run inside the same agents, pods, pinning (--placement) and cost
# accounting as cnbench's own generator (see workloads/src/external/ for how the tools are
# run and their output turned into cnbench samples). Rounds are interleaved: for every
# workload the two generators run back to back, cnbench first in odd rounds and the tool first
# in even rounds, so a drift in the machine's speed hits both alike.
#
# It then takes, per backend, path (same-node / cross-node), workload case (udp-stream has a
# 64 B and a max-payload case) and metric, the median over the rounds of each generator's
# figure, and prints the ratios:
#   cnbench / iperf3   throughput_bps (tcp-stream, udp-stream) and packets_per_s (udp-stream)
#                      -> PASS if ratio >= 1.00 (minus --tolerance)
#   cnbench / sockperf rtt_p50_ns (tcp-rr, udp-rr)
#                      -> PASS if ratio <= 1.10 (plus --tolerance)
# with each generator's loss (udp-stream) or transactions/s (rr) alongside, for information.
#
# Every `cnbench run` stands its own topology up and tears it down. Measurements that cnbench
# flagged as disturbed by other work on the machine are marked with `*`.
#
# Safety: all traffic goes between the runs' own namespaces. Every process this script starts
# is tracked by PID and stopped by PID on exit, Ctrl-C or TERM (never by name): a `cnbench run`
# gets SIGTERM first, on which it tears its topology down, and SIGKILL only if it has not
# finished 30 s later (then the script names the run whose namespaces are left and says how to
# remove them).
#
# Needs root. Installs iperf3, sockperf, jq (apt-get) when missing and builds
# target/release/cnbench (cargo build --release) when it is missing.
#
# Exit status: 0 all targets met, 1 a target failed, 2 usage error, 3 setup/measurement error
# (including a figure missing for one generator).

set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ci/compare-generators.sh [OPTIONS]

Compare cnbench's generator with iperf3 (tcp-stream, udp-stream) and sockperf (tcp-rr,
udp-rr) through `cnbench run --generator`, on every ready backend, same session, interleaved.

Options:
  --backends LIST     backends to compare, comma- or space-separated
                      (default: every backend `cnbench list` shows as ready)
  --workloads LIST    workloads to compare (default: tcp-stream,udp-stream,tcp-rr,udp-rr)
  --duration S        measured window per run, seconds, may be fractional (default: 1)
  --warmup S          warm-up before each window, seconds, may be fractional (default: 0.2)
  --rounds N          interleaved rounds of each pair of generators (default: 3)
  --placement P       same-cpu | cross-cpu (default: same-cpu)
  --ip-family F       ipv4 | ipv6 | dual (default: ipv4): the runs' families (cnbench run
                      --ip-family); a dual run compares each family's path. sockperf takes
                      IPv4 addresses only, so with ipv6 or dual only tcp-stream and
                      udp-stream are compared (the default workloads become those), and
                      the default backends are the ready ones `cnbench list` says run IPv6
  --tolerance PCT     loosen both targets by PCT percentage points (default: 0): stream
                      passes at >= (100 - PCT) %, rr at <= (110 + PCT) %
  --out DIR           keep every raw output (JSON, logs) in DIR (default: temp dir, removed)
  -h, --help          show this text

Targets: cnbench stream figures (throughput_bps, packets_per_s) median >= 1.00 x iperf3 median;
         cnbench rr p50 median                                      <= 1.10 x sockperf median.
iperf3 3.12 takes whole seconds: its -t and -O are the duration and warm-up rounded up.
sockperf always drops its first 400 ms and last 50 ms: its window is its own.
Environment: CNBENCH=/path/to/cnbench overrides target/release/cnbench.
Exit status: 0 all PASS, 1 some FAIL, 2 usage error, 3 setup or measurement error.
EOF
}

STREAM_MIN_RATIO=1.00
RR_MAX_RATIO=1.10
ALL_WORKLOADS="tcp-stream,udp-stream,tcp-rr,udp-rr"

BACKENDS=""
WORKLOADS="$ALL_WORKLOADS"
DURATION=1
WARMUP=0.2
ROUNDS=3
PLACEMENT=same-cpu
FAMILY=ipv4
WORKLOADS_GIVEN=0
TOLERANCE=0
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
        --workloads) [[ $# -ge 2 ]] || usage_err "--workloads needs a value"; WORKLOADS="$2"; WORKLOADS_GIVEN=1; shift 2 ;;
        --workloads=*) WORKLOADS="${1#*=}"; WORKLOADS_GIVEN=1; shift ;;
        --ip-family) [[ $# -ge 2 ]] || usage_err "--ip-family needs a value"; FAMILY="$2"; shift 2 ;;
        --ip-family=*) FAMILY="${1#*=}"; shift ;;
        --duration) [[ $# -ge 2 ]] || usage_err "--duration needs a value"; DURATION="$2"; shift 2 ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        --warmup) [[ $# -ge 2 ]] || usage_err "--warmup needs a value"; WARMUP="$2"; shift 2 ;;
        --warmup=*) WARMUP="${1#*=}"; shift ;;
        --rounds) [[ $# -ge 2 ]] || usage_err "--rounds needs a value"; ROUNDS="$2"; shift 2 ;;
        --rounds=*) ROUNDS="${1#*=}"; shift ;;
        --placement) [[ $# -ge 2 ]] || usage_err "--placement needs a value"; PLACEMENT="$2"; shift 2 ;;
        --placement=*) PLACEMENT="${1#*=}"; shift ;;
        --tolerance) [[ $# -ge 2 ]] || usage_err "--tolerance needs a value"; TOLERANCE="$2"; shift 2 ;;
        --tolerance=*) TOLERANCE="${1#*=}"; shift ;;
        --out) [[ $# -ge 2 ]] || usage_err "--out needs a value"; OUT_DIR="$2"; shift 2 ;;
        --out=*) OUT_DIR="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage_err "unknown argument: $1" ;;
    esac
done

# ---- validate input before touching anything ------------------------------------------------
NUM_RE='^[0-9]+([.][0-9]+)?$'
[[ "$DURATION" =~ $NUM_RE ]] && awk -v x="$DURATION" 'BEGIN{exit !(x > 0)}' \
    || usage_err "--duration must be a number of seconds > 0"
[[ "$WARMUP" =~ $NUM_RE ]] || usage_err "--warmup must be a number of seconds >= 0"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || usage_err "--rounds must be a whole number >= 1"
[[ "$TOLERANCE" =~ $NUM_RE ]] || usage_err "--tolerance must be a number of percentage points >= 0"
case "$PLACEMENT" in same-cpu|cross-cpu) ;; *) usage_err "--placement must be same-cpu or cross-cpu" ;; esac
case "$FAMILY" in ipv4|ipv6|dual) ;; *) usage_err "--ip-family must be ipv4, ipv6 or dual" ;; esac
if [[ "$FAMILY" != ipv4 ]]; then
    # sockperf 3.7 refuses IPv6 addresses (cnbench says so when asked): no rr reference.
    if [[ $WORKLOADS_GIVEN -eq 0 ]]; then
        WORKLOADS="tcp-stream,udp-stream"
    elif [[ ",$WORKLOADS," == *-rr,* ]]; then
        usage_err "--workloads: sockperf takes IPv4 addresses only, so with --ip-family $FAMILY compare tcp-stream,udp-stream"
    fi
fi
read -r -a WORKLOAD_LIST <<<"${WORKLOADS//,/ }"
[[ ${#WORKLOAD_LIST[@]} -ge 1 ]] || usage_err "--workloads is empty"
for w in "${WORKLOAD_LIST[@]}"; do
    case "$w" in tcp-stream|udp-stream|tcp-rr|udp-rr) ;;
        *) usage_err "--workloads: $w has no external generator to compare with (valid: $ALL_WORKLOADS)" ;;
    esac
done
BACKEND_LIST=()
if [[ -n "$BACKENDS" ]]; then
    read -r -a BACKEND_LIST <<<"${BACKENDS//,/ }"
    [[ ${#BACKEND_LIST[@]} -ge 1 ]] || usage_err "--backends is empty"
    for b in "${BACKEND_LIST[@]}"; do
        [[ "$b" =~ ^[a-z0-9][a-z0-9-]*$ ]] || usage_err "bad backend name: $b"
    done
fi
STREAM_TARGET=$(awk -v r="$STREAM_MIN_RATIO" -v t="$TOLERANCE" 'BEGIN{printf "%.2f", r - t / 100}')
RR_TARGET=$(awk -v r="$RR_MAX_RATIO" -v t="$TOLERANCE" 'BEGIN{printf "%.2f", r + t / 100}')
[[ $(id -u) -eq 0 ]] || die "must run as root (cnbench run creates network namespaces)"

# ---- state for cleanup ----------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
CNBENCH="${CNBENCH:-$REPO_DIR/target/release/cnbench}"
PIDS=()          # every background process this script started
CURRENT_JSON=""  # the --json file of the `cnbench run` in progress (it holds the run id)
WORK=""
KEEP_WORK=0
CLEANED=0

# Stop one PID: SIGTERM (a `cnbench run` then tears its topology down), up to 30 s to finish,
# then SIGKILL to it and to its direct children (found by PID in /proc), and reap it.
kill_pid() {
    local pid="$1" child children="" i
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            # a zombie counts as gone: wait reaps it below
            [[ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" == Z ]] && break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ]]; then
            log "warning: process $pid did not stop within 30 s of SIGTERM: killing it and its children"
            children=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
            kill -KILL "$pid" 2>/dev/null || true
            for child in $children; do kill -KILL "$child" 2>/dev/null || true; done
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    local pid="$1" p keep=()
    for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

# The namespaces a run left behind, if any (named cnb-<run>-...).
leftover_namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^cnb-$1-" || true
}

cleanup() {
    local rc=$?
    [[ $CLEANED -eq 0 ]] || return 0
    CLEANED=1
    trap '' INT TERM   # a second Ctrl-C must not stop the cleanup half-way
    exec 1>&3 2>&4
    local pid run left
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill_pid "$pid"; done
    PIDS=()
    if [[ -n "$CURRENT_JSON" && -s "$CURRENT_JSON" ]]; then
        run=$(jq -r '.run_id // empty' "$CURRENT_JSON" 2>/dev/null || true)
        if [[ -n "$run" ]]; then
            left=$(leftover_namespaces "$run")
            [[ -z "$left" ]] || log "warning: run $run left namespaces $(echo $left); remove them with: $CNBENCH clean"
        fi
    fi
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
# once and the trap can stop it). Returns the command's status.
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
    for t in iperf3 sockperf jq ip; do
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
    "$CNBENCH" run --help 2>/dev/null | grep -q -- '--generator' \
        || die "$CNBENCH has no 'run --generator': rebuild it (cargo build --release)"
}

ensure_tools
ensure_cnbench

if [[ ${#BACKEND_LIST[@]} -eq 0 ]]; then
    # `cnbench list`: a header, then "name status underlay needs summary" per backend, with
    # indented "↳ this machine: ..." notes between them.
    "$CNBENCH" list >"$WORK/list.txt" 2>"$WORK/list.err" || { cat "$WORK/list.err" >&2; die "cnbench list failed"; }
    read -r -a BACKEND_LIST <<<"$(awk 'NR > 1 && $1 ~ /^[a-z0-9][a-z0-9-]*$/ && $2 == "ready" {print $1}' "$WORK/list.txt" | tr '\n' ' ')"
    [[ ${#BACKEND_LIST[@]} -ge 1 ]] || { cat "$WORK/list.txt" >&2; die "cnbench list shows no ready backend"; }
    not_ready=$(awk 'NR > 1 && $1 ~ /^[a-z0-9][a-z0-9-]*$/ && $2 != "ready" {print $1}' "$WORK/list.txt" | tr '\n' ' ')
    [[ -z "$not_ready" ]] || log "not ready here, skipped: $not_ready(see cnbench list)"
    if [[ "$FAMILY" != ipv4 ]]; then
        "$CNBENCH" list --json >"$WORK/list.json" 2>"$WORK/list.err" || { cat "$WORK/list.err" >&2; die "cnbench list --json failed"; }
        no_v6=$(jq -r '.backends[] | select(.ipv6 != "yes") | .name' "$WORK/list.json" | tr '\n' ' ')
        keep=()
        for b in "${BACKEND_LIST[@]}"; do
            [[ " $no_v6 " == *" $b "* ]] || keep+=("$b")
        done
        BACKEND_LIST=("${keep[@]+"${keep[@]}"}")
        [[ ${#BACKEND_LIST[@]} -ge 1 ]] || die "no ready backend runs IPv6 (see cnbench list)"
        [[ -z "$no_v6" ]] || log "no IPv6 (see cnbench list), skipped: $no_v6"
    fi
fi

IPERF_VERSION="$(iperf3 --version 2>&1 | head -n1 | awk '{print $2}')"
SOCKPERF_VERSION="$(sockperf --version 2>&1 | sed -n 's/.*version \([^ ,]*\).*/\1/p' | head -n1)"

# ---- one run ------------------------------------------------------------------------------
RESULTS="$WORK/results.jsonl"   # one line per (run, measurement, metric)
ERRORS="$WORK/errors.txt"       # one line per failed run
: >"$RESULTS"
: >"$ERRORS"

reference_of() {  # workload -> the external generator that runs it
    case "$1" in *-stream) echo iperf3 ;; *) echo sockperf ;; esac
}

run_one() {  # backend round generator workload
    local backend="$1" r="$2" gen="$3" w="$4" rc=0 why
    local base="$WORK/$backend-r$r-$gen-$w"
    CURRENT_JSON="$base.json"
    run_tracked "$CNBENCH" run -b "$backend" --generator "$gen" --workloads "$w" \
        --duration "$DURATION" --warmup "$WARMUP" --repeat 1 --placement "$PLACEMENT" \
        --ip-family "$FAMILY" --no-baseline --json "$base.json" >"$base.log" 2>&1 || rc=$?
    if [[ -s "$base.json" ]]; then
        jq -c --arg b "$backend" --argjson r "$r" --arg g "$gen" '
            .measurements[] | . as $m
            | {backend: $b, round: $r, gen: $g, tool: $m.generator, path: $m.path,
               workload: $m.workload,
               case: ($m.workload + (if $m.variant then " " + $m.variant else "" end)),
               disturbed: ([($m.warnings // [])[] | select(.warning == "disturbed")] | length > 0)}
            + ($m.summary[] | {metric: .metric, value: .stats.median})' \
            "$base.json" >>"$RESULTS" 2>/dev/null || { [[ $rc -ne 0 ]] || rc=3; }
    fi
    if [[ $rc -ne 0 ]]; then
        why=$(jq -r '.outcome.message // empty' "$base.json" 2>/dev/null || true)
        [[ -n "$why" ]] || why=$(tail -n 2 "$base.log" | tr '\n' ' ')
        echo "$backend round $r $gen $w: cnbench run exited $rc: $why" >>"$ERRORS"
        log "[$backend] round $r: $gen $w FAILED (exit $rc): $why"
    fi
    CURRENT_JSON=""
}

compare_backend() {
    local backend="$1" r w ref
    for ((r = 1; r <= ROUNDS; r++)); do
        for w in "${WORKLOAD_LIST[@]}"; do
            ref=$(reference_of "$w")
            if ((r % 2 == 1)); then
                log "[$backend] round $r/$ROUNDS $w: cnbench, then $ref"
                run_one "$backend" "$r" cnbench "$w"
                run_one "$backend" "$r" "$ref" "$w"
            else
                log "[$backend] round $r/$ROUNDS $w: $ref, then cnbench"
                run_one "$backend" "$r" "$ref" "$w"
                run_one "$backend" "$r" cnbench "$w"
            fi
        done
    done
}

log "cnbench $("$CNBENCH" --version 2>/dev/null | awk '{print $2}'), iperf3 $IPERF_VERSION, sockperf $SOCKPERF_VERSION"
log "backends ${BACKEND_LIST[*]}; ip family $FAMILY; workloads ${WORKLOAD_LIST[*]}; $ROUNDS rounds of ${DURATION}s (+${WARMUP}s warm-up); placement $PLACEMENT; load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $KEEP_WORK -eq 0 ]] || log "raw outputs in $WORK"

for b in "${BACKEND_LIST[@]}"; do compare_backend "$b"; done

# ---- the table ------------------------------------------------------------------------------
# One row per backend, path, case and compared metric: medians over the rounds, their ratio,
# the target and the verdict (ERROR when one generator has no figure).
TABLE="$WORK/table.tsv"
jq -r -s \
    --arg backends "${BACKEND_LIST[*]}" \
    --argjson stream_target "$STREAM_TARGET" --argjson rr_target "$RR_TARGET" \
    --arg stream_target_s "$STREAM_TARGET" --arg rr_target_s "$RR_TARGET" '
    def median: sort | if length == 0 then null
        elif length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def border: ($backends | split(" ")) as $b | . as $x | ($b | index($x)) // 99;
    def porder: {"same-node": 0, "cross-node": 1}[.] // 2;
    def worder: {"tcp-stream": 0, "udp-stream": 1, "tcp-rr": 2, "udp-rr": 3}[.] // 4;
    def compared: {"tcp-stream": ["throughput_bps"],
                   "udp-stream": ["packets_per_s", "throughput_bps"],
                   "tcp-rr": ["rtt_p50_ns"], "udp-rr": ["rtt_p50_ns"]};
    def info: {"udp-stream": "loss_percent", "tcp-rr": "transactions_per_s",
               "udp-rr": "transactions_per_s"}[.workload];
    def fixed($d): pow(10; $d) as $p | (. * $p | round) as $i | ($i / $p | floor) as $w
        | "\($w)" + (if $d > 0 then "." + ("\($i - $w * $p)" | ("0" * ($d - length)) + .)
                     else "" end);
    def fmt($metric):
        if . == null then "n/a"
        elif $metric == "throughput_bps" then "\(. / 1e9 | fixed(2)) Gbit/s"
        elif $metric == "packets_per_s" then "\(. / 1e3 | fixed(0)) kpkt/s"
        elif $metric == "rtt_p50_ns" then "\(. / 1e3 | fixed(2)) us"
        elif $metric == "loss_percent" then "\(. | fixed(1)) %"
        elif $metric == "transactions_per_s" then "\(. / 1e3 | fixed(1)) k/s"
        else "\(.)" end;
    def list($metric): map(.value | fmt($metric)) | join(" ");
    . as $all
    | [ $all[] | {backend, path, workload, case} ] | unique
    | sort_by([(.backend | border), (.path | porder), (.workload | worder), .case])[]
    | . as $k
    | ($all | map(select(.backend == $k.backend and .path == $k.path and .case == $k.case))) as $rows
    | (if $k.workload | endswith("-stream") then "iperf3" else "sockperf" end) as $ref
    | (compared | .[$k.workload][]) as $metric
    | ($rows | map(select(.gen == "cnbench" and .metric == $metric)) | sort_by(.round)) as $c
    | ($rows | map(select(.gen == $ref and .metric == $metric)) | sort_by(.round)) as $t
    | ($k | info) as $im
    | ($rows | map(select(.gen == "cnbench" and .metric == $im) | .value) | median) as $ci
    | ($rows | map(select(.gen == $ref and .metric == $im) | .value) | median) as $ti
    | ($c | map(.value) | median) as $cm
    | ($t | map(.value) | median) as $tm
    | (if $cm == null or $tm == null or $tm == 0 then null else $cm / $tm end) as $ratio
    | ($metric == "rtt_p50_ns") as $rr
    | [ $k.backend, $k.path, $k.case, $metric,
        ($cm | fmt($metric)) + (if any($c[]; .disturbed) then "*" else "" end),
        "\($ref) " + ($tm | fmt($metric)) + (if any($t[]; .disturbed) then "*" else "" end),
        (if $ratio == null then "n/a" else ($ratio | fixed(3)) end),
        (if $rr then "<= \($rr_target_s) x \($ref)" else ">= \($stream_target_s) x \($ref)" end),
        (if $ratio == null then "ERROR"
         elif ($rr and $ratio <= $rr_target) or ((($rr) | not) and $ratio >= $stream_target)
         then "PASS" else "FAIL" end),
        (if $im == null then "-" else "\($im): " + ($ci | fmt($im)) + " / " + ($ti | fmt($im)) end),
        "cnbench [" + ($c | list($metric)) + "] \($ref) [" + ($t | list($metric)) + "]" ]
    | @tsv' "$RESULTS" >"$TABLE" || die "could not build the table from $RESULTS"

echo
echo "==== cnbench generator vs iperf3 / sockperf: medians of $ROUNDS interleaved rounds ===="
echo "tools: iperf3 $IPERF_VERSION, sockperf $SOCKPERF_VERSION; ${DURATION}s windows (+${WARMUP}s warm-up), placement $PLACEMENT, tolerance ${TOLERANCE} points"
echo "* = cnbench flagged at least one round as disturbed by other work on the machine"
echo
{
    printf 'backend\tpath\tcase\tmetric\tcnbench\treference\tratio\ttarget\tresult\talso (cnbench / reference)\n'
    cut -f1-10 "$TABLE"
} | column -t -s $'\t'
echo
echo "per round (in round order):"
awk -F'\t' '{printf "  %-12s %-10s %-22s %-14s %s\n", $1, $2, $3, $4, $11}' "$TABLE"

FAILED=0
ERRORED=0
grep -q $'\tFAIL\t' "$TABLE" && FAILED=1
grep -q $'\tERROR\t' "$TABLE" && ERRORED=1
[[ -s "$TABLE" ]] || ERRORED=1
if [[ -s "$ERRORS" ]]; then
    ERRORED=1
    echo
    echo "failed runs:"
    sed 's/^/  /' "$ERRORS"
fi
echo
if [[ $ERRORED -ne 0 ]]; then
    echo "RESULT: ERROR (a run failed or a figure is missing; see above)"
    exit 3
fi
if [[ $FAILED -ne 0 ]]; then
    echo "RESULT: FAIL (a target was missed)"
    exit 1
fi
echo "RESULT: PASS"
exit 0
