//! A place where cnbench applies netlink changes, reads kernel state and runs processes.
//!
//! Backends and checks talk to nodes, pods, switches and routers only through [`Host`]
//! (DESIGN.md §4a). Today every host is a network namespace on this machine; a VM node driven
//! by an agent is meant to be another implementation of the same surface.

use std::fs;
use std::process::{Child, Command};

use crate::error::{HarnessError, Result};
use crate::netlink::Netlink;
use crate::netns::Netns;
use crate::process;

/// One namespace of a run, with its netlink socket.
#[derive(Debug)]
pub struct Host {
    netns: Netns,
    netlink: Netlink,
}

impl Host {
    /// Opens a host on an existing namespace.
    pub fn open(netns: Netns) -> Result<Host> {
        let netlink = Netlink::open(&netns)?;
        Ok(Host { netns, netlink })
    }

    /// Namespace name (`cnb-<run>-<role>`).
    pub fn name(&self) -> &str {
        self.netns.name()
    }

    /// The namespace itself (for fds and `run_in`).
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// The netlink handle bound to this host.
    pub fn nl(&self) -> &Netlink {
        &self.netlink
    }

    /// Writes a sysctl of this host's network namespace (`key` like `net.ipv4.ip_forward`).
    /// `/proc/sys/net` resolves against the calling thread's namespace, so the write happens on
    /// a thread that entered it.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.netns
            .run_in(|| fs::write(&path, value))?
            .map_err(|e| HarnessError::io(format!("in {}: set {key}={value}", self.name()), e))
    }

    /// Writes several sysctls of this host's namespace at once (one thread for all).
    pub fn set_sysctls(&self, pairs: &[(&str, &str)]) -> Result<()> {
        let written = self.netns.run_in(|| {
            for (key, value) in pairs {
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                fs::write(&path, value).map_err(|e| (key, value, e))?;
            }
            Ok(())
        })?;
        written.map_err(|(key, value, e)| {
            HarnessError::io(format!("in {}: set {key}={value}", self.name()), e)
        })
    }

    /// Reads a sysctl of this host's network namespace.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.netns
            .run_in(|| fs::read_to_string(&path))?
            .map(|s| s.trim().to_string())
            .map_err(|e| HarnessError::io(format!("in {}: read {key}", self.name()), e))
    }

    /// Starts `cmd` inside this host; the child dies with the harness.
    pub fn spawn(&self, cmd: Command, what: &str) -> Result<Child> {
        process::spawn_in(&self.netns, cmd, what)
    }
}
