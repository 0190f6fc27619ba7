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
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f {}",
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
        // sshd's own children are its sessions (and the processes under them).
        for pid in descendants(sshd) {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            left.push(format!("{}: process {pid} {cmd}", self.host(i)));
        }
        left
    }

    /// The pid of host `i`'s sshd (under `ip netns exec`, unshare and sh, which exec).
    fn sshd_pid(&self, i: usize) -> u32 {
        self.sshd[i].id()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.sshd {
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

/// `cnbench run` on the lab's hosts with `args` after the SSH ones; output and run id.
fn run_on(lab: &Lab, backend: &str, hosts: &str, extra: &[&str]) -> (Output, Option<String>) {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--backend".into(),
        backend.into(),
        "--substrate".into(),
        "ssh".into(),
        "--hosts".into(),
        hosts.into(),
        "--remote-exe".into(),
        env!("CARGO_BIN_EXE_cnbench").into(),
    ];
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

fn assert_hosts_clean(lab: &Lab, n: usize) {
    // The agent's cleanup runs as its session ends; give the last one a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = (0..n).flat_map(|i| lab.leftovers(i)).collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left on the hosts: {left:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vxlan_runs_on_two_hosts_reached_only_over_ssh() {
    let lab = Lab::new(2);
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
    assert_hosts_clean(&lab, 2);
    common::assert_nothing_left(&id.unwrap());
}
