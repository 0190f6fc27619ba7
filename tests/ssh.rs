//! The SSH substrate against real sshd servers: each "host" is a network namespace of its own
//! with an OpenSSH server in a mount namespace of its own (its own `/run`, as a separate
//! machine has), joined to the others by a bridge in a "lan" namespace that stands for the
//! user's network. cnbench runs inside the lan namespace and reaches the hosts only over that
//! network, through the system's ssh client, with keys made for the test and removed after.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{code, text, Cleanup, SHORT};

/// The lab's network: the lan's bridge is .1, host i is .(10 + i).
const NET: &str = "192.168.77";

/// Two hosts with sshd, the lan between them, and the key material of this test.
struct Lab {
    id: String,
    dir: PathBuf,
    sshd: Vec<Child>,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("sh runs")
}

impl Lab {
    /// The lab `cnb-<id>-lan` with `hosts` hosts `cnb-<id>-h<i>`.
    fn new(hosts: usize) -> Lab {
        let id = format!("s{:05}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("cnbench-ssh-lab-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            id,
            dir,
            sshd: Vec::new(),
        };
        let lan = lab.lan();
        ip(&["netns", "add", &lan]);
        ip(&["-n", &lan, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &lan,
            "addr",
            "add",
            &format!("{NET}.1/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &lan, "link", "set", "br0", "up"]);
        ip(&["-n", &lan, "link", "set", "lo", "up"]);
        // The test's keys: the client's, a stranger's, and each host's.
        for key in ["client", "stranger"] {
            lab.keygen(key);
        }
        std::fs::copy(lab.path("client.pub"), lab.path("authorized_keys")).unwrap();
        let mut known = String::new();
        for i in 0..hosts {
            let h = lab.host(i);
            ip(&["netns", "add", &h]);
            ip(&[
                "-n",
                &lan,
                "link",
                "add",
                &format!("p{i}"),
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &h,
            ]);
            ip(&[
                "-n",
                &lan,
                "link",
                "set",
                &format!("p{i}"),
                "master",
                "br0",
                "up",
            ]);
            ip(&[
                "-n",
                &h,
                "addr",
                "add",
                &format!("{}/24", lab.addr(i)),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &h, "link", "set", "eth0", "up"]);
            ip(&["-n", &h, "link", "set", "lo", "up"]);
            let key = format!("host{i}");
            lab.keygen(&key);
            let public = std::fs::read_to_string(lab.path(&format!("{key}.pub"))).unwrap();
            let mut words = public.split_whitespace();
            let (kind, body) = (words.next().unwrap(), words.next().unwrap());
            known.push_str(&format!("{} {kind} {body}\n", lab.addr(i)));
            lab.start_sshd(i);
        }
        std::fs::write(lab.path("known_hosts"), known).unwrap();
        for i in 0..hosts {
            lab.wait_sshd(i);
            // The lab's own link-local addresses settle (DAD) before any test looks at the
            // hosts' namespaces.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !String::from_utf8_lossy(
                &Command::new("ip")
                    .args(["-n", &lab.host(i), "addr", "show", "tentative"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .trim()
            .is_empty()
            {
                assert!(
                    Instant::now() < deadline,
                    "host {i}'s addresses never settled"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        lab
    }

    fn lan(&self) -> String {
        format!("cnb-{}-lan", self.id)
    }

    fn host(&self, i: usize) -> String {
        format!("cnb-{}-h{i}", self.id)
    }

    fn addr(&self, i: usize) -> String {
        format!("{NET}.{}", 10 + i)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn keygen(&self, name: &str) {
        let o = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(self.path(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "ssh-keygen: {o:?}");
    }

    /// sshd of host `i`, in the host's namespace and a mount namespace whose `/run` is its
    /// own (sshd's privilege-separation directory, the agent's namespaces and files).
    fn start_sshd(&mut self, i: usize) {
        let config = self.path(&format!("sshd{i}.conf"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {addr}\nPort 22\nHostKey {key}\nAuthorizedKeysFile {auth}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
                 Subsystem sftp internal-sftp\n",
                addr = self.addr(i),
                key = self.path(&format!("host{i}")).display(),
                auth = self.path("authorized_keys").display(),
            ),
        )
        .unwrap();
        // Two login users other than root, in the host's own account files (bind-mounted
        // over /etc in its mount namespace only): `lab`, allowed passwordless sudo, and
        // `guest`, allowed nothing.
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/sshd /run/etc && \
             cp /etc/passwd /etc/group /etc/shadow /run/etc/ && \
             printf 'lab:x:4242:4242::/tmp:/bin/sh\\nguest:x:4243:4243::/tmp:/bin/sh\\n' >> /run/etc/passwd && \
             printf 'lab:x:4242:\\nguest:x:4243:\\n' >> /run/etc/group && \
             printf 'lab:*:19000:0:99999:7:::\\nguest:*:19000:0:99999:7:::\\n' >> /run/etc/shadow && \
             printf 'root ALL=(ALL:ALL) ALL\\nlab ALL=(root) NOPASSWD: ALL\\n' > /run/etc/sudoers && \
             chmod 440 /run/etc/sudoers && \
             for f in passwd group shadow sudoers; do mount --bind /run/etc/$f /etc/$f; done && \
             exec /usr/sbin/sshd -D -e -f {}",
            config.display()
        );
        let log = std::fs::File::create(self.path(&format!("sshd{i}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.host(i)])
            .args([
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        self.sshd.push(child);
    }

    fn wait_sshd(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = self.ssh(i, "client", "true");
            if o.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sshd of host {i} never answered: {}\n{}",
                text(&o),
                std::fs::read_to_string(self.path(&format!("sshd{i}.log"))).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `cmd` on host `i` over ssh from the lan, with key `key`.
    fn ssh(&self, i: usize, key: &str, cmd: &str) -> Output {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.lan(),
                "ssh",
                "-T",
                "-o",
                "BatchMode=yes",
            ])
            .arg("-o")
            .arg(format!("IdentityFile={}", self.path(key).display()))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.path("known_hosts").display()
            ))
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg(format!("root@{}", self.addr(i)))
            .arg(cmd)
            .output()
            .unwrap()
    }

    /// `--hosts` for the first `n` hosts (with `suffix` after each, like `%eth0`).
    fn hosts(&self, n: usize, suffix: &str) -> String {
        (0..n)
            .map(|i| format!("root@{}{suffix}", self.addr(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// cnbench's `words`, then both hosts (`--hosts`, `%eth0`) and the lab's ssh options
    /// with the client's key.
    fn on_both(&self, words: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        args.extend(["--hosts".to_string(), self.hosts(2, "%eth0")]);
        args.extend(self.ssh_options("client"));
        args
    }

    /// The ssh options of this lab, with key `key`.
    fn ssh_options(&self, key: &str) -> Vec<String> {
        vec![
            "--ssh-option".into(),
            format!("IdentityFile={}", self.path(key).display()),
            "--ssh-option".into(),
            format!("UserKnownHostsFile={}", self.path("known_hosts").display()),
            "--ssh-option".into(),
            "IdentitiesOnly=yes".into(),
            "--ssh-option".into(),
            "StrictHostKeyChecking=yes".into(),
        ]
    }

    /// cnbench inside the lan: it reaches the hosts only over the lab's network.
    fn cnbench(&self, args: &[String]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.lan(), env!("CARGO_BIN_EXE_cnbench")])
            .args(args);
        c
    }

    /// Everything a host has that a run could leave: its namespaces (in its own /run), its
    /// /run/cnbench, the processes sshd's sessions started, cnbench copies in /tmp.
    fn leftovers(&self, i: usize) -> Vec<String> {
        let sshd = self.sshd_pid(i);
        let mut left = Vec::new();
        let o = sh(&format!(
            "nsenter --target {sshd} --mount sh -c 'ls /run/netns 2>/dev/null; ls -d /run/cnbench 2>/dev/null'"
        ));
        left.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{}: {l}", self.host(i))),
        );
        // sshd's own children are its sessions (and the processes under them). A session
        // whose network was cut stays until sshd notices (its TCP keepalive): sshd's own,
        // not the run's.
        for pid in descendants(sshd) {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            if cmd.starts_with("sshd:") {
                continue;
            }
            left.push(format!("{}: process {pid} {cmd}", self.host(i)));
        }
        left
    }

    /// Host `i`'s own network namespace as `ip -j` and its forwarding sysctls show it, with
    /// the counters and timers that change by themselves left out.
    fn own_namespace(&self, i: usize) -> String {
        let h = self.host(i);
        let mut out = String::new();
        for args in [
            vec!["-j", "link", "show"],
            vec!["-j", "addr", "show"],
            vec!["-j", "route", "show", "table", "all"],
            vec!["-j", "-6", "route", "show", "table", "all"],
        ] {
            let o = Command::new("ip")
                .args(["-n", &h])
                .args(&args)
                .output()
                .unwrap();
            let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            scrub(&mut v);
            out.push_str(&v.to_string());
            out.push('\n');
        }
        let o = sh(&format!(
            "ip netns exec {h} sysctl net.ipv4.ip_forward net.ipv4.conf.eth0.proxy_arp net.ipv6.conf.all.forwarding"
        ));
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out
    }

    /// The pid of host `i`'s sshd (under `ip netns exec`, unshare and sh, which exec).
    fn sshd_pid(&self, i: usize) -> u32 {
        self.sshd[i].id()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.sshd {
            // sshd's sessions first, by pid: a session whose network was cut waits on its
            // TCP connection and would outlive the listener.
            for pid in descendants(c.id()) {
                // SAFETY: kill(2) of a pid found below our own child just now.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // A host's namespaces die with its mount namespace; the lab's are named here.
        for ns in common::namespaces_of(&self.id) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Leaves out what changes by itself in `ip -j` output: counters, timers, lifetimes.
fn scrub(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in [
                "stats64",
                "stats",
                "valid_life_time",
                "preferred_life_time",
                "expires",
            ] {
                m.remove(k);
            }
            m.values_mut().for_each(scrub);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// Every process below `pid` (children, theirs, ...).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let kids = std::fs::read_dir(format!("/proc/{p}/task"))
            .map(|d| {
                d.filter_map(|t| t.ok())
                    .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
                    .collect::<Vec<String>>()
                    .join(" ")
            })
            .unwrap_or_default();
        for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
            all.push(k);
            todo.push(k);
        }
    }
    all
}

/// Which hosts a check covers: the first `n`, or a range.
struct HostRange(std::ops::Range<usize>);
impl From<usize> for HostRange {
    fn from(n: usize) -> HostRange {
        HostRange(0..n)
    }
}
impl From<std::ops::Range<usize>> for HostRange {
    fn from(r: std::ops::Range<usize>) -> HostRange {
        HostRange(r)
    }
}

/// `cnbench run` on the lab's hosts with `args` after the SSH ones; output and run id.
fn run_on(lab: &Lab, backend: &str, hosts: &str, extra: &[&str]) -> (Output, Option<String>) {
    run_on_with(lab, backend, hosts, extra, true)
}

fn assert_hosts_clean(lab: &Lab, hosts: impl Into<HostRange>) {
    let hosts = hosts.into().0;
    // The agent's cleanup runs as its session ends; give the last one a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = hosts.clone().flat_map(|i| lab.leftovers(i)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left on the hosts: {left:#?}\nagents: {}",
            String::from_utf8_lossy(
                &sh("ps -eo pid,ppid,stat,cmd | grep 'agent --listen' | grep -v grep").stdout
            )
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vxlan_runs_on_two_hosts_reached_only_over_ssh() {
    let lab = Lab::new(2);
    let before: Vec<String> = (0..2).map(|i| lab.own_namespace(i)).collect();
    let json = lab.path("vxlan.json");
    let (o, id) = run_on(
        &lab,
        "vxlan",
        &lab.hosts(2, "%eth0"),
        &[&["--json", json.to_str().unwrap()], SHORT].concat(),
    );
    let _g = Cleanup(id.clone().into_iter().collect());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = reports::read_result(&json).expect("result");
    assert!(r
        .checks
        .iter()
        .all(|c| c.outcome == reports::CheckOutcome::Pass));
    // The nodes' uplinks are macvlans of the hosts' eth0, and the wire check saw VXLAN on
    // the hosts' own network.
    assert!(
        r.checks
            .iter()
            .any(|c| c.check == "devices" && c.actual.contains("macvlan")),
        "{:#?}",
        r.checks
            .iter()
            .filter(|c| c.check == "devices")
            .collect::<Vec<_>>()
    );
    assert!(!r.measurements.is_empty(), "no measurement");
    // The result says where it ran, and its host-net baseline ran on the same hosts.
    assert_eq!(r.substrate.kind, reports::SubstrateKind::Ssh);
    let b = r.baseline.as_ref().expect("a baseline on the same hosts");
    assert!(r.baseline_error.is_none(), "{:?}", r.baseline_error);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("2 nodes on the hosts root@{}", lab.addr(0))),
        "{}",
        text(&o)
    );
    // Costs are taken on the hosts by their agents: client and server have their CPU, each
    // host's machine its CPU, and the cost lines show the hosts' machines.
    let out = String::from_utf8_lossy(&o.stdout);
    for m in &r.measurements {
        assert!(!m.costs.is_empty(), "{}: no cost", m.workload);
        for c in &m.costs {
            for role in ["client", "server"] {
                let rc = c.roles.iter().find(|x| x.role == role);
                assert!(
                    rc.and_then(|x| x.cpu_ns).is_some_and(|ns| ns > 0),
                    "{}: {role}: {:?}",
                    m.workload,
                    c.roles
                );
            }
            assert_eq!(c.machines.len(), 2, "{:?}", c.machines);
            for n in &c.machines {
                let mc = n.machine.as_ref().expect("node machine CPU");
                assert!(mc.busy_ns > 0 && mc.cpus > 0, "{n:?}");
                assert!(
                    out.contains(&format!("{} machine ", n.node)),
                    "{} missing from the cost lines:\n{out}",
                    n.node
                );
            }
        }
    }
    assert_hosts_clean(&lab, 2);
    // The hosts' own namespaces gained nothing: links, addresses, routes, neighbours (the
    // nodes' ARP probes and traffic are answered by the nodes, not by the hosts), sysctls.
    for (i, was) in before.iter().enumerate() {
        assert_eq!(
            &lab.own_namespace(i),
            was,
            "host {i}'s own namespace changed"
        );
    }
    common::assert_nothing_left(&id.unwrap());
    common::assert_nothing_left(&b.run_id);
}

/// bgp (BIRD on each host, with this binary copied for the run), host-gw and the
/// single-node bridge: every check and workload on hosts reached over SSH, nothing left.
#[test]
fn bgp_host_gw_and_bridge_run_on_the_hosts() {
    let lab = Lab::new(2);
    for (backend, hosts, extra) in [
        ("bgp", 2, vec!["--copy-exe"]),
        ("host-gw", 2, vec![]),
        ("bridge", 1, vec![]),
    ] {
        let json = lab.path(&format!("{backend}.json"));
        // One workload is enough to show measuring works on the hosts (the first test of
        // this file measures every workload on vxlan), and keeps the suite within its time.
        let mut args = vec!["--json", json.to_str().unwrap(), "--workloads", "tcp-rr"];
        args.extend_from_slice(SHORT);
        args.extend(extra.iter().copied());
        // --copy-exe replaces --remote-exe.
        let (o, id) = if extra.contains(&"--copy-exe") {
            run_on_with(&lab, backend, &lab.hosts(hosts, "%eth0"), &args, false)
        } else {
            run_on(&lab, backend, &lab.hosts(hosts, "%eth0"), &args)
        };
        let _g = Cleanup(id.clone().into_iter().collect());
        assert_eq!(code(&o), 0, "{backend}: {}", text(&o));
        let r = reports::read_result(&json).expect("result");
        let failed: Vec<_> = r
            .checks
            .iter()
            .filter(|c| c.outcome != reports::CheckOutcome::Pass)
            .collect();
        assert!(failed.is_empty(), "{backend}: {failed:#?}");
        assert!(!r.measurements.is_empty(), "{backend}: no measurement");
        assert_hosts_clean(&lab, hosts);
        let id = id.unwrap();
        common::assert_nothing_left(&id);
        // The copies are gone from the hosts' /tmp (shared with this machine here).
        for n in 0..hosts {
            let copy = format!("/tmp/cnbench-{id}-n{n}");
            assert!(!std::path::Path::new(&copy).exists(), "{copy} left");
        }
    }
}

/// [`run_on`], with `--remote-exe` this binary when `remote_exe`.
fn run_on_with(
    lab: &Lab,
    backend: &str,
    hosts: &str,
    extra: &[&str],
    remote_exe: bool,
) -> (Output, Option<String>) {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--backend".into(),
        backend.into(),
        "--substrate".into(),
        "ssh".into(),
        "--hosts".into(),
        hosts.into(),
    ];
    if remote_exe {
        args.extend(["--remote-exe".into(), env!("CARGO_BIN_EXE_cnbench").into()]);
    }
    args.extend(lab.ssh_options("client"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = lab.cnbench(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("cnbench run "))
        .and_then(|r| r.split([':', ' ']).next())
        .map(str::to_string);
    (o, id)
}

/// A script standing in for cnbench on a host (a program written to misbehave).
fn script(lab: &Lab, name: &str, body: &str) -> String {
    let p = lab.path(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p.display().to_string()
}

/// Each host that cannot be a node is refused before anything is built: one line naming
/// the host and the fix, exit 2, and nothing on any host.
#[test]
fn a_host_that_cannot_be_a_node_is_refused_before_anything_is_built() {
    let lab = Lab::new(2);
    let exe = env!("CARGO_BIN_EXE_cnbench");
    let old = script(&lab, "old-cnbench", "echo 'cnbench 0.0.9'");
    let nobody = script(
        &lab,
        "nobody-cnbench",
        &format!("exec setpriv --reuid=65534 --regid=65534 --clear-groups {exe} \"$@\""),
    );
    let two = lab.hosts(2, "%eth0");
    let h0 = lab.addr(0);
    let h1 = lab.addr(1);
    let cases: Vec<(&str, Vec<String>, &str, &str)> = vec![
        (
            "a refused key",
            vec![
                "--hosts".into(),
                two.clone(),
                "--remote-exe".into(),
                exe.into(),
            ],
            "Permission denied",
            "IdentityFile",
        ),
        (
            "another cnbench version",
            vec![
                "--hosts".into(),
                two.clone(),
                "--remote-exe".into(),
                old.clone(),
            ],
            "cnbench 0.0.9",
            "--copy-exe",
        ),
        (
            "no root",
            vec![
                "--hosts".into(),
                two.clone(),
                "--remote-exe".into(),
                nobody.clone(),
            ],
            "uid 65534",
            "passwordless sudo",
        ),
        (
            "no such interface",
            vec![
                "--hosts".into(),
                format!("root@{h0}%eth0,root@{h1}%nosuch0"),
                "--remote-exe".into(),
                exe.into(),
            ],
            "no interface nosuch0",
            "HOST%IFACE",
        ),
        (
            "a kernel without ipvlan",
            vec![
                "--hosts".into(),
                two.clone(),
                "--remote-exe".into(),
                exe.into(),
                "--node-link".into(),
                "ipvlan".into(),
            ],
            "cannot create ipvlan devices",
            "--node-link macvlan",
        ),
        (
            "an address in use",
            vec![
                "--hosts".into(),
                format!("root@{h0}%eth0={h1}/24,root@{h1}%eth0={NET}.50/24"),
                "--remote-exe".into(),
                exe.into(),
            ],
            "already in use",
            "HOST=ADDR/LEN",
        ),
        (
            "an unreachable host",
            vec![
                "--hosts".into(),
                format!("root@{h0}%eth0,root@{NET}.99%eth0"),
                "--remote-exe".into(),
                exe.into(),
            ],
            "ssh failed",
            "ssh HOST true",
        ),
    ];
    for (what, hosts, said, fix) in cases {
        let key = if what == "a refused key" {
            "stranger"
        } else {
            "client"
        };
        assert_refused(&lab, what, hosts, key, said, fix);
    }
    // A network with port security, as switches and cloud networks have: only the hosts'
    // own MACs pass the lan's bridge, so the nodes' macvlans cannot reach each other.
    let macs: Vec<String> = (0..2)
        .map(|i| {
            let o = Command::new("ip")
                .args(["-n", &lab.host(i), "-j", "link", "show", "eth0"])
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v[0]["address"].as_str().unwrap().to_string()
        })
        .collect();
    let ruleset = format!(
        "table bridge portsec {{\n chain forward {{\n  type filter hook forward priority 0;\n  \
         ether saddr != {{ {} }} drop\n }}\n}}\n",
        macs.join(", ")
    );
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &lab.lan(), "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    nft.stdin
        .take()
        .unwrap()
        .write_all(ruleset.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success(), "{ruleset}");
    assert_refused(
        &lab,
        "a network that drops unknown MACs",
        vec!["--hosts".into(), two, "--remote-exe".into(), exe.into()],
        "client",
        "cannot reach node n1",
        "--node-link ipvlan",
    );
}

/// A vxlan run on `hosts` (with key `key`) is refused: exit 2, a line naming the host that
/// says `said` and the fix `fix`, and nothing left on the hosts or here.
fn assert_refused(lab: &Lab, what: &str, hosts: Vec<String>, key: &str, said: &str, fix: &str) {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--backend".into(),
        "vxlan".into(),
        "--substrate".into(),
        "ssh".into(),
        "--workloads".into(),
        "none".into(),
        "--no-baseline".into(),
    ];
    args.extend(hosts);
    args.extend(lab.ssh_options(key));
    let o = lab.cnbench(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{what}: {}", text(&o));
    let line = stderr
        .lines()
        .find(|l| l.contains("host "))
        .unwrap_or_else(|| panic!("{what}: no line naming the host: {}", text(&o)));
    assert!(line.contains(said) && line.contains(fix), "{what}: {line}");
    assert_hosts_clean(lab, 2);
    let stdout = String::from_utf8_lossy(&o.stdout);
    if let Some(id) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("cnbench run "))
        .and_then(|r| r.split([':', ' ']).next())
    {
        common::assert_nothing_left(id);
    }
}

/// The cnbench run of `args` in the lan, as a terminal's foreground job, its stdout read
/// line by line.
fn start_job(lab: &Lab, args: &[String]) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut child = lab
        .cnbench(args)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for stream in [
        Box::new(out) as Box<dyn std::io::Read + Send>,
        Box::new(err),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(l);
            }
        });
    }
    (child, rx)
}

fn wait_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push(l.clone());
            if l.contains(needle) {
                return;
            }
        }
    }
    panic!("no {needle:?} in:\n{}", seen.join("\n"));
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("cnbench did not exit");
}

fn long_run_args(lab: &Lab) -> Vec<String> {
    lab.on_both(&[
        "run",
        "--backend",
        "vxlan",
        "--substrate",
        "ssh",
        "--duration",
        "20",
        "--no-baseline",
        "--remote-exe",
        env!("CARGO_BIN_EXE_cnbench"),
    ])
}

/// A Ctrl-C while the hosts measure: the run tears down through its sessions and exits 130,
/// and nothing is left on either host.
#[test]
fn an_interrupted_run_leaves_nothing_on_the_hosts() {
    let lab = Lab::new(2);
    interrupt_once(
        &lab,
        &long_run_args(&lab),
        "== measuring",
        Duration::from_millis(500),
    );
}

/// Starts `args` in the lab as a terminal's job, sends it a Ctrl-C `after` once it printed
/// `line`, and asserts it exits 130 leaving nothing on the hosts or here.
fn interrupt_once(lab: &Lab, args: &[String], line: &str, after: Duration) {
    let (mut child, rx) = start_job(lab, args);
    let mut seen = Vec::new();
    wait_line(&rx, line, &mut seen);
    std::thread::sleep(after);
    // SAFETY: kill(2) of the process group our own child leads; no memory is involved.
    assert_eq!(unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) }, 0);
    assert_eq!(wait_exit(&mut child), Some(130), "{}", seen.join("\n"));
    assert_hosts_clean(lab, 2);
    let id = common::run_id_of(&seen.join("\n"));
    common::assert_nothing_left(&id);
}

/// bgp pods announced one by one churn on the hosts with a copy of cnbench there: each
/// observer's prober (that copy, run through /proc once removed) sees every pod reached, silent,
/// and its /32 withdrawn from the other node's routes, and nothing is left.
#[test]
fn bgp_pods_churn_on_the_hosts_and_each_route_is_withdrawn() {
    let lab = Lab::new(2);
    let json = lab.path("bgp-churn.json");
    let args = lab.on_both(&[
        "churn",
        "--backend",
        "bgp",
        "--bgp-announce",
        "pod",
        "--substrate",
        "ssh",
        "--copy-exe",
        "--pods",
        "4",
        "--concurrency",
        "2",
        "--cycles",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let o = lab.cnbench(&args).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = reports::read_result(&json).unwrap();
    assert!(r.checks_passed(), "{:#?}", r.checks);
    let times: Vec<&reports::PodTimes> = r
        .measurements
        .iter()
        .flat_map(|m| &m.repetitions)
        .flat_map(|s| match s {
            reports::Sample::Churn(c) => &c.times,
            other => panic!("a churn measurement holds {other:?}"),
        })
        .collect();
    assert_eq!(times.len(), 4);
    for t in times {
        assert!(
            t.reachable_ns.is_some() && t.unreachable_ns.is_some(),
            "{t:?}"
        );
        assert!(t.withdrawn_ns.is_some(), "{t:?}");
    }
    assert_hosts_clean(&lab, 2);
    common::assert_nothing_left(&common::run_id_of(&String::from_utf8_lossy(&o.stdout)));
}

/// A Ctrl-C mid-cycle of a churn on the hosts: its probers there stop with their sessions,
/// the run exits 130, and nothing is left on either host.
#[test]
fn an_interrupted_churn_leaves_nothing_on_the_hosts() {
    let lab = Lab::new(2);
    let args = lab.on_both(&[
        "churn",
        "--backend",
        "vxlan",
        "--substrate",
        "ssh",
        "--pods",
        "10",
        "--concurrency",
        "1",
        "--cycles",
        "50",
        "--remote-exe",
        env!("CARGO_BIN_EXE_cnbench"),
    ]);
    interrupt_once(&lab, &args, "cycle 2/50", Duration::from_millis(100));
}

/// The connection to one host cut mid-run (its ssh client killed, by pid): the run ends
/// with an error naming that node's agent, the other host is cleaned by the teardown, and
/// the cut one by its agent, which reads the end of its session.
#[test]
fn a_cut_connection_ends_the_run_clearly_and_both_hosts_are_cleaned() {
    let lab = Lab::new(2);
    let all = cut_host0_mid_run(&lab, |child| {
        let to_h0 = format!("root@{}", lab.addr(0));
        let ssh = descendants(child.id())
            .into_iter()
            .find(|p| {
                let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
                cmd.starts_with("ssh\0") && cmd.split('\0').any(|w| w == to_h0)
            })
            .expect("the ssh client of host 0");
        // SAFETY: kill(2) of a pid found among our own child's children just now.
        assert_eq!(unsafe { libc::kill(ssh as i32, libc::SIGKILL) }, 0);
    });
    assert_hosts_clean(&lab, 2);
    common::assert_nothing_left(&common::run_id_of(&all));
}

/// A long vxlan run on two hosts, cut from host 0 by `cut` once it measures: asserts that
/// it fails naming node 0; returns everything it printed.
fn cut_host0_mid_run(lab: &Lab, cut: impl FnOnce(&Child)) -> String {
    let (mut child, rx) = start_job(lab, &long_run_args(lab));
    let mut seen = Vec::new();
    wait_line(&rx, "== measuring", &mut seen);
    cut(&child);
    let code = wait_exit(&mut child);
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(l);
    }
    let all = seen.join("\n");
    assert_ne!(code, Some(0), "{all}");
    assert!(all.contains("-n0"), "the error names the cut node: {all}");
    all
}

/// Faults and churn on the hosts: a node's uplink flaps and the run recovers; the faults
/// that need cnbench's own hub (loss) or a node that outlives its session (node-restart)
/// are refused before anything is built, with the reason; pods churn with their prober on
/// the observers' hosts, every one reached and nothing left.
#[test]
fn a_link_flap_recovers_pods_churn_on_the_hosts_and_what_cannot_run_there_is_refused() {
    let lab = Lab::new(2);
    let base = |cmd: &str| -> Vec<String> {
        lab.on_both(&[
            cmd,
            "--backend",
            "vxlan",
            "--substrate",
            "ssh",
            "--remote-exe",
            env!("CARGO_BIN_EXE_cnbench"),
        ])
    };
    let mut flap = base("fault");
    flap.extend([
        "--fault".into(),
        "link-flap".into(),
        "--hold".into(),
        "0.3".into(),
    ]);
    let o = lab.cnbench(&flap).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("link-flap"),
        "{}",
        text(&o)
    );
    assert_hosts_clean(&lab, 2);
    for (args, said) in [
        (vec!["--fault", "loss"], "hosts' network"),
        (
            vec!["--fault", "node-restart"],
            "does not restart the hosts",
        ),
    ] {
        let mut a = base("fault");
        a.extend(args.iter().map(|s| s.to_string()));
        let o = lab.cnbench(&a).output().unwrap();
        assert_eq!(code(&o), 2, "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(said),
            "{}",
            text(&o)
        );
    }
    // Churn: each observer's prober runs on its host, and every pod is reached, falls
    // silent, and leaves nothing behind.
    let json = lab.path("churn.json");
    let mut churn = base("churn");
    churn.extend(
        [
            "--pods",
            "6",
            "--concurrency",
            "1,3",
            "--cycles",
            "2",
            "--json",
            &json.display().to_string(),
        ]
        .map(String::from),
    );
    let o = lab.cnbench(&churn).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = reports::read_result(&json).unwrap();
    let failed: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.outcome == reports::CheckOutcome::Fail)
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.actual))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(r.checks.iter().filter(|c| c.check == "leak").count() > r.topology.len());
    let samples: Vec<&reports::ChurnSample> = r
        .measurements
        .iter()
        .flat_map(|m| &m.repetitions)
        .map(|s| match s {
            reports::Sample::Churn(c) => c,
            other => panic!("a churn measurement holds {other:?}"),
        })
        .collect();
    assert_eq!(samples.len(), 4, "two levels of two cycles");
    for s in samples {
        assert_eq!((s.failed_adds, s.never_reachable), (0, 0), "{s:?}");
        assert_eq!(s.times.len(), 6, "{s:?}");
        for t in &s.times {
            assert!(t.wired_ns.is_some() && t.removed_ns.is_some(), "{t:?}");
            assert!(t.reachable_ns.is_some(), "{t:?}");
            assert!(t.reachable_same_node_ns.is_some(), "{t:?}");
            assert!(t.unreachable_ns.is_some(), "{t:?}");
            // Reached across the lab's network within the limit, on the prober's clock.
            assert!(t.reachable_ns.unwrap() < 10_000_000_000, "{t:?}");
        }
    }
    assert_hosts_clean(&lab, 2);
}

/// The network to one host cut mid-run (its port on the lan down, nothing closed): the run
/// ends with an error naming that node, the other host is cleaned by the teardown, and the
/// cut one by its agent, which hears no keepalive for its idle timeout.
#[test]
fn a_host_cut_off_by_the_network_cleans_up_by_itself() {
    let lab = Lab::new(2);
    let all = cut_host0_mid_run(&lab, |_| {
        ip(&["-n", &lab.lan(), "link", "set", "p0", "down"]);
    });
    assert_hosts_clean(&lab, 1..2);
    // Host 0 is still cut off: its agent ends the session itself.
    let deadline = Instant::now()
        + Duration::from_secs(harness::ssh::nodes::AGENT_IDLE_TIMEOUT_S)
        + Duration::from_secs(40);
    while !lab.leftovers(0).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(lab.leftovers(0).is_empty(), "{:#?}", lab.leftovers(0));
    common::assert_nothing_left(&common::run_id_of(&all));
}

/// A login user other than root runs the agent through `sudo -n`; one whom sudo refuses is
/// refused before anything is built, named with the fix.
#[test]
fn a_user_other_than_root_works_through_sudo() {
    let lab = Lab::new(2);
    let hosts = |user: &str| {
        (0..2)
            .map(|i| format!("{user}@{}%eth0", lab.addr(i)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (o, id) = run_on(
        &lab,
        "vxlan",
        &hosts("lab"),
        &["--workloads", "none", "--no-baseline"],
    );
    let _g = Cleanup(id.clone().into_iter().collect());
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_hosts_clean(&lab, 2);
    common::assert_nothing_left(&id.unwrap());
    assert_refused(
        &lab,
        "a user sudo refuses",
        vec![
            "--hosts".into(),
            hosts("guest"),
            "--remote-exe".into(),
            env!("CARGO_BIN_EXE_cnbench").into(),
        ],
        "client",
        "`sudo -n` refused",
        "passwordless sudo",
    );
}
