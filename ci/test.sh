#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this) and as README.md says.
#
# Installs what the tests need when it is missing, then: formatting, lints, every test of
# the workspace. Namespace tests need root (they build real topologies in network namespaces
# that they create and remove); as another user this script stops with a clear error rather
# than skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "ci/test.sh: the namespace tests need root: run it as root (sudo ci/test.sh)" >&2
    exit 2
fi

# Debian packages the tests use: iproute2 (`ip`, the independent oracle some tests compare
# against, and `tc` for the slowdown test), procps, bird2 (the bgp backend), iperf3,
# sockperf, containernetworking-plugins, iptables, frr and gobgpd (the bgp backend's other
# speakers).
missing=()
command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
command -v pgrep >/dev/null || missing+=(procps)
command -v bird >/dev/null || missing+=(bird2)
# The bgp backend's other speakers (`--bgp-speaker frr|gobgp`): FRR's daemons (zebra,
# staticd, bgpd, in /usr/lib/frr) and vtysh; gobgpd and its gobgp CLI. Their services stay
# stopped like BIRD's: cnbench runs its own inside the run's namespaces.
{ [ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null; } || missing+=(frr)
{ command -v gobgpd >/dev/null && command -v gobgp >/dev/null; } || missing+=(gobgpd)
# The external generators behind `--generator iperf3|sockperf`, which the tests cross-check.
command -v iperf3 >/dev/null || missing+=(iperf3)
# nft, with which `cnbench fault --fault loss` drops packets on the underlay (the package's
# service stays disabled: it loads no rules in the machine's own namespace).
command -v nft >/dev/null || missing+=(nftables)
command -v sockperf >/dev/null || missing+=(sockperf)
# The reference CNI plugins that `--backend cni` and `--pod-wiring cni` drive (its cni-dhcp
# socket unit stays disabled: the plugins run only inside the run's node namespaces), and
# iptables, which their portmap and firewall plugins run there (and the CNI tests read
# `iptables-save` of the machine's own namespace, to show it unchanged).
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables-save >/dev/null || missing+=(iptables)
# The SSH substrate's tests: ssh, scp and ssh-keygen (openssh-client), and sshd
# (openssh-server, whose service stays stopped like BIRD's: the tests run their own sshd
# inside the lab's namespaces).
command -v ssh >/dev/null && command -v scp >/dev/null && command -v ssh-keygen >/dev/null \
    || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# sudo, through which a login user other than root runs the agent (the tests' hosts allow
# it in their own sudoers, bind-mounted inside their mount namespaces only).
command -v sudo >/dev/null || missing+=(sudo)
# cc, which builds ci/userspace-ref.c for the flannel-udp test of --daemon-program.
command -v cc >/dev/null || missing+=(gcc)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "ci/test.sh: installing ${missing[*]}"
    # bird2's package would start a BIRD service in the machine's own namespace (frr its
    # watchfrr and daemons, gobgpd a gobgpd, openssh-server an sshd); cnbench runs its own
    # speakers, and the tests their sshds, inside namespaces only. Keep services from starting
    # during this install (policy-rc.d exit 101), unless a policy is already in place.
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

# The VM substrate's tests boot QEMU VMs: `cnbench setup vm` installs QEMU and busybox and
# unpacks a Debian cloud kernel when they are missing (and does nothing when they are there).
echo "== cnbench setup vm"
cargo build --quiet --bin cnbench
"${CARGO_TARGET_DIR:-target}/debug/cnbench" setup vm

before=$(ip netns list | awk '{print $1}' | grep '^cnb-' | sort || true)

echo "== cargo fmt --all -- --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test --workspace"
# One test at a time: measurements pin their processes to one CPU and flood its receive
# backlog, which another test's conformance probes share (the backlog is per CPU, not per
# namespace).
cargo test --workspace -- --test-threads=1

# Every test removes what it made: no namespace of ours (cnb-*) may appear that was not
# there before (a topology someone left standing with `cnbench up` is not the tests').
after=$(ip netns list | awk '{print $1}' | grep '^cnb-' | sort || true)
leftover=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
# Runs that someone else on this machine has in progress right now are theirs, not ours.
if [ -n "$leftover" ]; then
    busy=$("${CARGO_TARGET_DIR:-target}/debug/cnbench" status | awk '/in progress/ {print "^cnb-" $1 "-"}' || true)
    if [ -n "$busy" ]; then
        leftover=$(echo "$leftover" | grep -v -f <(echo "$busy") || true)
    fi
fi
if [ -n "$leftover" ]; then
    echo "ci/test.sh: tests left namespaces behind:" >&2
    echo "$leftover" >&2
    exit 1
fi
echo "== all tests passed, nothing left behind"
