//! Every kind of bad input to every command: unknown names, malformed CIDRs, zero and huge
//! counts, unreadable or wrong-schema result files, output paths that cannot be written, and
//! missing programs. Each must be refused up front: exit 2, exactly one line on stderr that
//! names the problem (and what to change), and nothing created: no `cnb-*` namespace, no run
//! state under /run/cnbench, no file. Nothing here stands a topology up, so the file runs in
//! seconds.
//!
//! A case is a command line and a phrase its error must contain. Words are split on spaces;
//! `''` is an empty argument, `{dir}` is this test's directory (see [`Fixture`]), and leading
//! `NAME=VALUE` words are environment variables (`PATH={dir}/bin` hides every program).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::{cnb_namespaces, cnbench, Cleanup};

/// A refused command exits at once; one that does not is stopped (SIGTERM tears a run down).
const PATIENCE: Duration = Duration::from_secs(30);

#[rustfmt::skip]
const RUN: &[(&str, &str)] = &[
    // Unknown names.
    ("run", "required arguments were not provided: --backend"),
    ("run --bakend bridge", "(did you mean --backend)"),
    ("run --backend", "a value is required for '--backend"),
    ("run --backend nope", "invalid value 'nope' for '--backend <BACKEND>' (possible values: host-net, bridge"),
    ("run -b flannel-udp --datapath xdp", "invalid value 'xdp' for '--datapath <VALUE>'"),
    ("run -b flannel-udp --daemon-program /nonexistent/userspace-ref", "No such file or directory (os error 2): give the path of the built forwarder"),
    ("run -b flannel-udp --daemon-program {dir}", "not a file: give the program's path"),
    ("run -b flannel-udp --daemon-program /etc/passwd", "not executable: chmod +x it"),
    ("run -b flannel-udp --datapath batched --daemon-program /bin/true", "leave out --datapath"),
    ("run -b ipip --datapath foo", "invalid value 'foo' for '--datapath <VALUE>'"),
    ("run -b bridge --datapath batched", "--datapath is not an option of backend bridge; leave it out"),
    ("run -b vxlan --datapath offload", "--datapath is not an option of backend vxlan; leave it out"),
    ("run -b host-gw --peer-datapath offload", "--peer-datapath is not an option of backend host-gw; leave it out"),
    ("run -b ipip --peer-datapath faithful", "--peer-datapath faithful: backend ipip takes userspace, offload"),
    ("run -b flannel-udp --peer-datapath xdp", "invalid value 'xdp' for '--peer-datapath <VALUE>'"),
    ("run -b bgp --bgp-topology star", "invalid value 'star' for '--bgp-topology <VALUE>' (possible values: mesh, rr)"),
    ("run -b vxlan --bgp-topology rr", "--bgp-topology is not an option of backend vxlan; leave it out"),
    ("run -b bridge --underlay l4", "possible values: none, l2, l3"),
    ("run -b bridge --substrate kvm", "invalid value 'kvm' for '--substrate <SUBSTRATE>' (possible values: netns, vm, ssh)"),
    ("up -b vxlan --substrate vm", "VM nodes live only as long as the command"),
    // The SSH substrate's options, refused before any host is contacted.
    ("run -b vxlan --substrate ssh", "needs a host per node: --hosts HOST1,HOST2"),
    ("run -b vxlan --hosts a%eth0,b%eth0", "add --substrate ssh"),
    ("run -b vxlan --copy-exe", "add --substrate ssh --hosts"),
    ("run -b vxlan --substrate ssh --hosts a,b", "HOST%IFACE, or --underlay-iface IFACE"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --nodes 3", "--hosts names 2"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --underlay l3", "the hosts' own network is the underlay"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,a%eth0", "name every host once"),
    ("run -b vxlan --substrate ssh --hosts a%eth0=10.0.0.1/24,b%eth0", "give every host its node's address"),
    ("run -b vxlan --substrate ssh --hosts a%eth0=10.0.0.1/24,b%eth0=10.0.1.1/24", "on one network"),
    ("run -b vxlan --substrate ssh --hosts a:0%eth0,b%eth0", "[user@]host[:port][%iface][=addr/len]"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --ssh-option=-oProxyCommand=x", "KEY=VALUE"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --copy-exe --remote-exe /x", "give one"),
    ("up -b vxlan --substrate ssh --hosts a%eth0,b%eth0", "use `cnbench run`, `fault` or `churn` with --substrate ssh"),
    ("fault -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --fault loss", "hosts' network"),
    ("fault -b host-net --underlay l3 --fault router-down", "this topology has 1 (underlay l3): use --underlay l3 --routers 2"),
    ("fault -b host-net --fault router-down", "this topology has 0 (underlay l2): use --underlay l3 --routers 2"),
    ("fault -b host-net --underlay l3 --routers 2 --fault router-down --router rt3", "--router rt3: the topology's routers are rt, rt2"),
    ("run -b vxlan --substrate ssh --hosts a%eth0,b%eth0 --node-link vepa", "possible values: macvlan, ipvlan"),
    ("setup kvm", "possible values: vm"),
    ("run -b host-net --workloads udp_stream", "invalid value 'udp_stream' for '--workloads <WORKLOADS>'"),
    ("run -b host-net --workloads none,tcp-rr", "leave it out or use it alone"),
    ("run -b host-net --generator netperf", "possible values: cnbench, iperf3"),
    ("run -b host-net --placement numa", "possible values: same-cpu, cross-cpu"),
    ("run -b host-net --generator iperf3 --workloads tcp-crr", "it runs tcp-stream"),
    // Malformed CIDRs.
    ("run -b bridge --pod-cidr banana", "write ADDRESS/PREFIX"),
    ("run -b bridge --pod-cidr 10.0.0.0/33", "write ADDRESS/PREFIX"),
    ("run -b bridge --pod-cidr 300.1.0.0/16", "write ADDRESS/PREFIX"),
    ("run -b bridge --pod-cidr 10.0.0.0", "write ADDRESS/PREFIX"),
    ("run -b bridge --pod-cidr=", "write ADDRESS/PREFIX"),
    ("run -b vxlan --pod-cidr 100.96.0.5/16", "did you mean 100.96.0.0/16"),
    ("run -b host-net --pod-cidr 127.0.0.0/16", "overlaps loopback"),
    ("run -b host-net --pod-cidr 10.168.0.0/16", "pick ranges that do not overlap"),
    ("run -b bridge --pod-cidr 172.17.0.0/30", "use a shorter prefix"),
    ("run -b vxlan --pod-cidr 100.96.0.0/25", "each node takes a /24"),
    ("run -b host-net --underlay-cidr 10.1.0.0/24,foo", "write ADDRESS/PREFIX"),
    ("run -b host-net --underlay l3 --underlay-cidr 10.1.0.0/24", "needs 2 subnet"),
    ("run -b host-net --underlay-cidr 10.168.0.0/30 --nodes 5", "too small for 5"),
    ("run -b host-net --underlay l3 --underlay-cidr 10.1.0.0/24,10.1.0.0/25", "overlaps"),
    // IP families: a backend whose real counterpart has no IPv6, a CNI network of other
    // families than the run's, IPv6 ranges without IPv6, and IPv6 ranges that cannot work.
    ("run -b flannel-udp --ip-family ipv6", "flannel's UDP backend carries IPv4 only"),
    ("run -b ipip --ip-family dual", "IP-in-IP carry IPv4 only"),
    ("run -b cni --cni-conf examples/cni/cbr0.conflist --ip-family dual", "IPv4 addresses only (100.96.0.0/16) but the run is --ip-family dual: add an IPv6 range"),
    ("run -b cni --cni-conf examples/cni/bridge-dual.conflist", "disables IPv6 in every namespace: pass --ip-family dual"),
    ("run -b bridge --ip-family ipv7", "possible values: ipv4, ipv6, dual"),
    ("run -b bridge --pod-cidr6 fd00:1::/64", "add --ip-family ipv6 or dual"),
    ("run -b bridge --ip-family ipv6 --pod-cidr6 fd00:1::5/64", "did you mean fd00:1::/64"),
    ("run -b bridge --ip-family ipv6 --pod-cidr6 10.0.0.0/8", "not an IPv6 network"),
    ("run -b host-net --ip-family ipv6 --underlay-cidr6 fe80::/64", "link-local"),
    ("run -b host-net --ip-family dual --underlay l3 --underlay-cidr6 fd00:1::/64", "needs 2 IPv6 subnet"),
    ("run -b host-net --ip-family dual --mtu 1200", "IPv6 needs at least 1280 bytes"),
    ("run -b host-net --ip-family ipv6 --underlay l3 --underlay-cidr6 fd00:1::/64,fd00:1::/80", "overlaps"),
    // A narrower segment: l3 only, below --mtu, host-net only.
    ("run -b host-net --segment-mtu 1400", "a narrower segment needs two: use --underlay l3"),
    ("run -b host-net --underlay l3 --segment-mtu 1500", "--segment-mtu 1500: use 576 (the IPv4 minimum) to 1499"),
    ("run -b host-net --underlay l3 --ip-family ipv6 --segment-mtu 1000", "use 1280 (the IPv6 minimum)"),
    ("run -b vxlan --underlay l3 --segment-mtu 1400", "a narrower segment is built for host-net only"),
    // Zero and huge counts.
    ("run -b host-net --nodes 0", "--nodes 0: a topology needs at least 1 node"),
    ("run -b host-net --nodes 100000", "at most 1000 nodes"),
    ("run -b host-net --nodes 99999999999", "is not in 0..=4294967295"),
    ("run -b host-net --nodes -1", "unexpected argument '-1'"),
    ("run -b bridge --pods-per-node 0", "--pods-per-node 0: use 1 to 250"),
    ("run -b bridge --pods-per-node 100000", "use 1 to 250"),
    ("run -b host-net --nodes 250 --pods-per-node 250", "at most 2000 fit one machine"),
    // The pair limit is where the pairs are probed: scale's 1,000 nodes are not for run.
    ("run -b host-net --nodes 600", "600 pods, at most 500 fit (the checks probe every pod pair)"),
    // Two routers: l3 only, on namespaces; the per-bridge ports: l2 only, 2 to 1023.
    ("run -b host-net --routers 2", "--routers 2: routers join the two segments of the l3 underlay, and underlay l2 has none: add --underlay l3"),
    ("run -b host-net --underlay l3 --routers 3", "--routers 3: use 1 or 2"),
    ("run -b host-net --underlay l3 --routers 0", "--routers 0: use 1 or 2"),
    ("run -b vxlan --underlay l3 --routers 2 --substrate vm", "use --substrate netns or --routers 1"),
    ("run -b host-net --underlay l3 --bridge-ports 4", "only the l2 switch of the namespace substrate is split"),
    ("run -b host-net --bridge-ports 1", "--bridge-ports 1: use 2 to 1023"),
    ("run -b host-net --nodes 6 --bridge-ports 3", "holds fewer than 6 nodes: use more ports"),
    ("run -b bridge --nodes 2", "single-node"),
    ("run -b host-net --underlay none", "use --underlay l2 or l3"),
    ("run -b host-net --mtu 100", "--mtu 100: use 576"),
    ("run -b host-net --mtu 70000", "--mtu 70000: use 576"),
    ("run -b host-net --repeat 0", "--repeat 0: use 1 to 1000"),
    ("run -b host-net --repeat 100000", "--repeat 100000: use 1 to 1000"),
    ("run -b host-net --streams 0", "--streams 0: use 1 to 128"),
    ("run -b host-net --streams 1000", "--streams 1000: use 1 to 128"),
    ("run -b host-net --duration 0", "--duration 0: use 0.05 to 3600"),
    ("run -b host-net --duration 1e9", "use 0.05 to 3600 seconds"),
    ("run -b host-net --duration nan", "--duration NaN: use 0.05 to 3600"),
    ("run -b host-net --duration inf", "--duration inf: use 0.05 to 3600"),
    ("run -b host-net --duration soon", "invalid float literal"),
    ("run -b host-net --warmup 5000", "--warmup 5000: use 0 to 3600"),
    ("run -b host-net --message-size 0", "--message-size 0: use 16 to 65507"),
    ("run -b host-net --message-size 99999999", "use 16 to 65507 bytes"),
    ("run -b host-net --workloads tcp-stream --message-size 0", "--message-size 0: use 1 to"),
    // Output paths.
    ("run -b bridge --json {dir}/missing/out.json", "pick a --json path"),
    ("run -b bridge --json {dir}/a-file/out.json", "pick a --json path"),
    ("run -b bridge --json {dir}/a-dir", "pick a --json path"),
    // Missing programs.
    ("PATH={dir}/bin run -b bgp", "it runs bird, which is not on PATH: install Debian's bird2 package"),
    ("CNBENCH_VM_DIR={dir}/novm run -b vxlan --substrate vm", "run `cnbench setup vm`"),
    ("CNBENCH_VM_DIR={dir}/novm fault -b vxlan --substrate vm --fault link-flap", "run `cnbench setup vm`"),
    // ipip detects its datapath in the nodes' kernel: without VM assets the answer is the
    // setup, not a datapath nobody asked for.
    ("CNBENCH_VM_DIR={dir}/novm run -b ipip --substrate vm", "run `cnbench setup vm`"),
    ("run -b ipip --datapath userspace --substrate vm", "leave --datapath out (kernel) on VMs"),
    ("run -b ipip --datapath offload --substrate vm", "--datapath offload on --substrate vm"),
    ("PATH={dir}/bin run -b host-net --generator iperf3", "apt-get install iperf3"),
    ("PATH={dir}/bin run -b host-net --generator sockperf", "apt-get install sockperf"),
];

#[test]
fn run_refuses_bad_input() {
    assert_refused("run", RUN);
}

#[rustfmt::skip]
const UP: &[(&str, &str)] = &[
    ("up", "required arguments were not provided: --backend"),
    ("up -b nope", "invalid value 'nope' for '--backend <BACKEND>'"),
    ("up -b flannel-udp --datapath xdp", "invalid value 'xdp' for '--datapath <VALUE>'"),
    ("up -b bgp --bgp-topology star", "invalid value 'star' for '--bgp-topology <VALUE>'"),
    ("up -b bridge --underlay l4", "possible values: none, l2, l3"),
    ("up -b bridge --repeat 3", "unexpected argument '--repeat'"),
    ("up -b host-net --pod-cidr banana", "write ADDRESS/PREFIX"),
    ("up -b host-net --underlay-cidr 10.168.0.0/24,", "write ADDRESS/PREFIX"),
    ("up -b flannel-udp --pod-cidr 100.96.0.0/25", "each node takes a /24"),
    ("up -b host-net --nodes 0", "at least 1 node"),
    ("up -b host-net --nodes 100000", "at most 1000 nodes"),
    ("up -b bridge --pods-per-node 100000", "use 1 to 250"),
    ("up -b vxlan --nodes 100 --pods-per-node 100", "at most 2000 fit one machine"),
    ("up -b vxlan --nodes 300 --pods-per-node 2", "600 pods, at most 500 fit (the checks probe every pod pair)"),
    ("up -b host-net --mtu 0", "--mtu 0: use 576"),
    ("PATH={dir}/bin up -b bgp", "install Debian's bird2"),
];

#[test]
fn up_refuses_bad_input() {
    assert_refused("up", UP);
}

#[rustfmt::skip]
const RUN_ID: &[(&str, &str)] = &[
    ("down", "required arguments were not provided: <RUN_ID>"),
    ("down ''", "is not a run id"),
    ("down ZZZZZZ", "\"ZZZZZZ\" is not a run id"),
    ("down ../../etc", "is not a run id (1 to 6 lowercase letters or digits)"),
    ("down abcdefg", "`cnbench status` lists them"),
    ("down zzzzzz", "no run \"zzzzzz\" here"),
    ("down zzzzzz extra", "unexpected argument 'extra'"),
    ("check", "required arguments were not provided: <RUN_ID>"),
    ("check ''", "is not a run id"),
    ("check A1", "is not a run id"),
    ("check zzzzzz", "no run \"zzzzzz\" here"),
    ("check zzzzzz --json {dir}/missing/x.json", "no run \"zzzzzz\" here"),
    ("measure", "required arguments were not provided: <RUN_ID>"),
    ("measure x/y", "is not a run id"),
    ("measure zzzzzz", "no run \"zzzzzz\" here"),
    ("measure zzzzzz --backend bridge", "unexpected argument '--backend'"),
    ("measure zzzzzz --workloads tcp_rr", "invalid value 'tcp_rr' for '--workloads <WORKLOADS>'"),
    ("measure zzzzzz --generator netperf", "possible values: cnbench"),
    ("measure zzzzzz --repeat 0", "--repeat 0: use 1 to 1000"),
    ("measure zzzzzz --streams 100000", "use 1 to 128"),
    ("measure zzzzzz --duration 0", "use 0.05 to 3600"),
    ("measure zzzzzz --warmup nan", "use 0 to 3600"),
    ("measure zzzzzz --message-size 99999999", "use 16 to 65507"),
    ("PATH={dir}/bin measure zzzzzz --generator iperf3", "apt-get install iperf3"),
];

#[test]
fn commands_on_a_run_refuse_bad_run_ids_and_options() {
    assert_refused("run-id", RUN_ID);
}

#[rustfmt::skip]
const SCALE: &[(&str, &str)] = &[
    ("scale", "required arguments were not provided: --backend"),
    ("scale -b nope", "invalid value 'nope' for '--backend <BACKEND>'"),
    ("scale -b vxlan", "--backend vxlan has none to scale; bgp has one"),
    ("scale -b bgp --nodes 0", "use sizes from 2 to 1000"),
    ("scale -b bgp --nodes 1", "use sizes from 2 to 1000"),
    ("scale -b bgp --nodes 10,100000", "use sizes from 2 to 1000"),
    ("scale -b bgp --nodes 10,abc", "invalid value 'abc' for '--nodes"),
    ("scale -b bgp --nodes=", "invalid value '' for '--nodes"),
    ("scale -b bgp --bgp-topology mesh,star", "invalid value 'star' for '--bgp-topology <VALUE>'"),
    ("scale -b bgp --underlay l4", "possible values: none, l2, l3"),
    ("scale -b bgp --underlay none", "use --underlay l2 or l3"),
    ("scale -b bgp --timeout 0", "--timeout 0: use a positive number"),
    ("scale -b bgp --timeout nan", "use a positive number of seconds"),
    ("scale -b bgp --timeout 1e20", "at most 3600"),
    ("scale -b bgp --json {dir}/missing/scale.json", "pick a --json path"),
    ("PATH={dir}/bin scale -b bgp --nodes 2", "it runs bird, which is not on PATH: install Debian's bird2 package"),
    ("scale -b bgp --nodes 3,2 --until-fails", "--until-fails goes up the sizes: give --nodes in ascending order"),
    ("scale -b bgp --nodes 2,2 --stop-at-first-failure", "give --nodes in ascending order, each once"),
    ("scale -b bgp --pod-wiring builtin,cni", "--pod-wiring: one value only; `cnbench scale` sweeps --bgp-speaker, --bgp-topology, --bgp-announce"),
];

#[test]
fn scale_refuses_bad_input() {
    assert_refused("scale", SCALE);
}

#[rustfmt::skip]
const CHURN: &[(&str, &str)] = &[
    ("churn -b bridge --pods 0", "--pods 0: add at least one pod per cycle"),
    ("churn -b bridge --pods 8 --concurrency 9", "--concurrency 9: use 1 to --pods (8)"),
    ("churn -b bridge --pods 8 --concurrency 2,0", "--concurrency 0: use 1 to --pods (8)"),
    ("churn -b bridge --cycles 0", "--cycles 0: run at least one cycle"),
    ("churn -b bridge --pod-cidr 10.70.0.0/28 --pods 20", "more pods than the pod blocks hold"),
    ("churn -b vxlan --pods 499", "at most 498 fit (the planner's limit of 500 pods)"),
    ("churn -b host-net", "its pods share their node's namespace"),
    ("churn -b bridge --probe-interval 0", "--probe-interval 0: use 0.1 to 1000 milliseconds"),
    ("churn -b bridge --reach-limit 0", "--reach-limit 0: use 0.001 to 600 seconds"),
    ("churn -b bgp --bgp-announce pod --pod-wiring cni --cni-conf examples/cni/cbr0.conflist",
     "--bgp-announce pod needs cnbench's own pod wiring"),
    ("churn -b bridge --json {dir}/missing/churn.json", "pick a --json path"),
    ("PATH={dir}/bin churn -b bgp", "install Debian's bird2"),
];

#[test]
fn churn_refuses_bad_input() {
    assert_refused("churn", CHURN);
}

#[rustfmt::skip]
const COMPARE: &[(&str, &str)] = &[
    ("compare {dir}/good.json", "not provided: <CANDIDATE.json>"),
    ("compare {dir}/missing.json {dir}/good.json", "No such file"),
    ("compare {dir}/good.json {dir}/a-dir", "Is a directory"),
    ("compare {dir}/good.json /dev/null", "is not a cnbench result"),
    ("compare {dir}/empty.json {dir}/good.json", "stopped before its first result"),
    ("compare {dir}/not-json.json {dir}/good.json", "is not a cnbench result"),
    ("compare {dir}/array.json {dir}/good.json", "is not a cnbench result"),
    ("compare {dir}/good.json {dir}/v999.json", "has schema_version 999"),
    ("compare {dir}/no-version.json {dir}/good.json", "missing field `schema_version`"),
    ("compare {dir}/good.json {dir}/no-parameters.json", "missing field `parameters`"),
    ("compare {dir}/scale.json {dir}/good.json", "is a `cnbench scale` result"),
    ("compare {dir}/good.json {dir}/other.json", "compare two runs of the same backend"),
    ("compare {dir}/good.json {dir}/good.json --threshold banana", "not a number"),
    ("compare {dir}/good.json {dir}/good.json --threshold=-5%", "it is negative"),
    ("compare {dir}/good.json {dir}/good.json --metric-threshold foo", "METRIC="),
    ("compare {dir}/good.json {dir}/good.json --metric-threshold rtt_p42_ns=5%",
     "unknown metric `rtt_p42_ns`"),
    ("compare {dir}/good.json {dir}/good.json --noise-floor lots", "--noise-floor"),
    ("compare {dir}/good.json {dir}/good.json --markdown {dir}/missing/x.md",
     "--markdown {dir}/missing/x.md: {dir}/missing is not a directory"),
    // Nothing is written when any output cannot be (ok.md would be).
    ("compare {dir}/good.json {dir}/good.json --markdown {dir}/ok.md --junit {dir}/a-file/x.xml",
     "--junit {dir}/a-file/x.xml: {dir}/a-file is not a directory"),
    ("compare {dir}/good.json {dir}/good.json --json {dir}/a-dir", "is a directory"),
];

#[test]
fn compare_refuses_bad_files_and_options() {
    assert_refused("compare", COMPARE);
}

#[rustfmt::skip]
const REPORT: &[(&str, &str)] = &[
    ("report --out {dir}/r", "not provided: <RESULT.json>"),
    ("report {dir}/good.json", "not provided: --out <DIR>"),
    ("report {dir}/missing.json --out {dir}/r", "check the path"),
    ("report {dir}/a-dir --out {dir}/r", "Is a directory"),
    ("report {dir}/not-json.json --out {dir}/r", "is not a cnbench result"),
    ("report {dir}/empty.json --out {dir}/r", "is not a cnbench result"),
    ("report {dir}/v999.json --out {dir}/r", "has schema_version 999"),
    ("report {dir}/no-parameters.json --out {dir}/r", "missing field `parameters`"),
    // One bad file among good ones: nothing is written.
    ("report {dir}/good.json {dir}/not-json.json --out {dir}/r", "not-json.json"),
    ("report {dir}/good.json --out {dir}/a-file", "must not be an existing file"),
    ("report {dir}/good.json --out {dir}/a-file/r", "Not a directory"),
];

#[test]
fn report_refuses_bad_files_and_output_directories() {
    assert_refused("report", REPORT);
}

#[rustfmt::skip]
const OTHER: &[(&str, &str)] = &[
    ("", "no command given: use one of list, run"),
    ("frobnicate", "unrecognized command 'frobnicate'"),
    ("--bogus", "unexpected argument '--bogus'"),
    ("list extra", "unexpected argument 'extra'"),
    ("list --all", "unexpected argument '--all'"),
    ("status extra", "unexpected argument 'extra'"),
    ("clean extra", "unexpected argument 'extra'"),
    ("clean --force", "unexpected argument '--force'"),
    // The internal commands, given garbage.
    ("task", "not provided: <TASK>"),
    ("task not-json", "invalid agent task JSON"),
    ("task {}", "missing field `role`"),
    ("task []", "invalid agent task JSON"),
    ("agent", "required arguments were not provided: --listen"),
    ("agent --listen ftp://x", "--listen ftp://x: use a device path"),
    ("agent --listen tcp:nowhere", "use tcp:<ip>:<port>"),
    ("daemon nope {}", "backend \"nope\" has no daemon"),
    ("daemon bridge {}", "backend \"bridge\" has no daemon"),
    ("daemon flannel-udp not-json", "not a flannel-udp daemon configuration"),
    ("daemon flannel-udp {}", "missing field"),
    ("daemon ipip not-json", "ipip daemon: bad configuration"),
    ("daemon ipip {}", "missing field"),
];

#[test]
fn every_other_command_refuses_bad_input() {
    assert_refused("other", OTHER);
}

/// `--help` and `--version` are not errors: clap prints them as always, exit 0.
#[test]
fn help_and_version_are_unchanged() {
    for args in [&["--help"][..], &["run", "--help"], &["help", "scale"]] {
        let o = cnbench().args(args).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(out.contains("Usage: cnbench"), "{args:?}: {out}");
        assert!(out.lines().count() > 5, "{args:?}: {out}");
    }
    let o = cnbench().arg("--version").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("cnbench "));
}

/// Runs every case; asserts that each is refused and leaves nothing, listing every case that
/// is not.
fn assert_refused(name: &str, cases: &[(&str, &str)]) {
    let fixture = Fixture::new(name);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(line, needle)| fixture.refused(line, needle).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs were not refused as they should be:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// A directory with the files the cases name: result files good and bad, a plain file, a
/// directory, and an empty `bin/` to put on PATH.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("cnbench-bad-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("a-dir")).unwrap();
        // Result files of this build's schema, committed as test data.
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("render/tests/data");
        let read = |file: &str| std::fs::read_to_string(data.join(file)).unwrap();
        let run: serde_json::Value = serde_json::from_str(&read("vxlan.json")).unwrap();
        let without = |field: &str| {
            let mut v = run.clone();
            v.as_object_mut().unwrap().remove(field);
            v.to_string()
        };
        let mut v999 = run.clone();
        v999["schema_version"] = 999.into();
        let files = [
            ("good.json", read("vxlan.json")),
            ("other.json", read("host-gw-l3.json")),
            ("scale.json", read("bgp-scale.json")),
            ("v999.json", v999.to_string()),
            ("no-version.json", without("schema_version")),
            ("no-parameters.json", without("parameters")),
            ("not-json.json", "run_id: abc\n".into()),
            ("empty.json", String::new()),
            ("array.json", "[1, 2]".into()),
            ("a-file", "a plain file\n".into()),
        ];
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        Fixture { dir }
    }

    /// Runs one case: `Err` says how it fell short of the contract.
    fn refused(&self, line: &str, needle: &str) -> Result<(), String> {
        let dir = self.dir.to_str().unwrap();
        let line = line.replace("{dir}", dir);
        let needle = needle.replace("{dir}", dir);
        let mut words: Vec<String> = line
            .split_whitespace()
            .map(|w| if w == "''" { String::new() } else { w.into() })
            .collect();
        let mut cmd = cnbench();
        while let Some((name, value)) = words.first().and_then(|w| w.split_once('=')) {
            if !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                break;
            }
            cmd.env(name, value);
            words.remove(0);
        }
        cmd.args(&words)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let before = Snapshot::take(&self.dir);
        let child = cmd
            .spawn()
            .map_err(|e| format!("{line}: cannot start: {e}"))?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let (output, stopped) = match rx.recv_timeout(PATIENCE) {
            Ok(o) => (o, false),
            Err(_) => {
                // Not refused: it is working. SIGTERM makes it tear down what it made.
                // SAFETY: kill(2) on our own child's pid; no memory is involved.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                (rx.recv().unwrap(), true)
            }
        };
        let output = output.map_err(|e| format!("{line}: {e}"))?;
        let made = Snapshot::take(&self.dir).made_since(&before, pid);
        // Whatever a broken case made is removed, so the next case starts clean.
        drop(Cleanup(made.runs.iter().cloned().collect()));

        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut wrong = Vec::new();
        if stopped {
            wrong.push(format!("still running after {PATIENCE:?}, stopped"));
        }
        if output.status.code() != Some(2) {
            wrong.push(format!("exit {:?}, not 2", output.status.code()));
        }
        if stderr.lines().count() != 1 || stderr.trim().is_empty() {
            wrong.push(format!("{} lines on stderr, not 1", stderr.lines().count()));
        }
        if !stderr.contains(&needle) {
            wrong.push(format!("stderr lacks {needle:?}"));
        }
        if !made.is_empty() {
            wrong.push(format!("it made {made:?}"));
        }
        if wrong.is_empty() {
            return Ok(());
        }
        Err(format!(
            "cnbench {line}\n  {}\n  --- stderr\n{stderr}  --- stdout\n{}",
            wrong.join("; "),
            String::from_utf8_lossy(&output.stdout)
        ))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What exists that a command could make: `cnb-*` namespaces (not the short-lived `-probe`
/// of `cnbench list`), run state directories, and the files of the test's directory.
#[derive(Debug, Default)]
struct Snapshot {
    namespaces: BTreeSet<String>,
    runs: BTreeSet<String>,
    files: BTreeSet<PathBuf>,
}

impl Snapshot {
    fn take(dir: &Path) -> Snapshot {
        let names = |d: &Path| -> BTreeSet<String> {
            std::fs::read_dir(d)
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut files = BTreeSet::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for name in names(&d) {
                let path = d.join(name);
                if path.is_dir() {
                    dirs.push(path.clone());
                }
                files.insert(path);
            }
        }
        Snapshot {
            namespaces: cnb_namespaces()
                .into_iter()
                .filter(|n| !n.ends_with("-probe"))
                .collect(),
            runs: names(Path::new("/run/cnbench")),
            files,
        }
    }

    /// What is here now and was not `before`, less the runs of other processes (another
    /// test binary may be running on this machine): a run's state names its owner, and is
    /// written before its first namespace.
    fn made_since(&self, before: &Snapshot, pid: u32) -> Snapshot {
        let ours = |run: &str| {
            let state = std::fs::read_to_string(format!("/run/cnbench/{run}/state.json"));
            let owner = state
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|v| v["owner_pid"].as_u64());
            owner.is_none_or(|o| o == u64::from(pid))
        };
        let run_of = |ns: &str| ns.split('-').nth(1).unwrap_or_default().to_string();
        let namespaces: BTreeSet<String> = self
            .namespaces
            .difference(&before.namespaces)
            .filter(|n| ours(&run_of(n)))
            .cloned()
            .collect();
        let mut runs: BTreeSet<String> = self
            .runs
            .difference(&before.runs)
            .filter(|r| ours(r))
            .cloned()
            .collect();
        runs.extend(namespaces.iter().map(|n| run_of(n)));
        Snapshot {
            namespaces,
            runs,
            files: self.files.difference(&before.files).cloned().collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.runs.is_empty() && self.files.is_empty()
    }
}
