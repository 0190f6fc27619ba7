//! Where the nodes of a run lived: network namespaces on the harness's machine, one QEMU VM
//! per node, or one real host per node reached over SSH.
//!
//! VMs under QEMU's TCG (pure CPU emulation, no KVM) translate every guest instruction in
//! software: their figures are typically 10–50× below native ones and vary by ±20–35 % from
//! one run to the next. They are good for comparing how datapaths *behave* (what works, what
//! fails, packets and syscalls per packet, relative order), not how fast they are. Every output
//! of `render` says so on emulated results, and nothing divides, compares or
//! tables an emulated figure against a native one ([`Substrate::comparable_with`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// QEMU's accelerator name for pure CPU emulation (the Tiny Code Generator).
pub const TCG: &str = "tcg";

/// What an emulated result's figures are good for, in a few words: said wherever an emulated
/// figure is shown.
pub const EMULATED_CAVEAT: &str = "figures compare behaviour, not speed";

/// Why emulated figures are kept apart from native ones, in one sentence for reports.
pub const EMULATED_NOTE: &str = "QEMU TCG emulates every instruction in software, so these \
    figures are typically 10–50× below native ones and vary by ±20–35 % between runs: they \
    compare how datapaths behave (what works, what fails, counts per packet, relative order), \
    not how fast they are, and are never set beside namespace results";

/// Where the nodes of a run lived.
///
/// There is deliberately no `Default`: whoever builds a result says where it ran
/// ([`crate::RunResult::new`] starts from [`Substrate::netns`] with the machine's kernel, and
/// the harness replaces that for VM runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substrate {
    /// `netns` (network namespaces on the harness's machine) or `vm` (one QEMU VM per node).
    pub kind: SubstrateKind,
    /// True when the nodes ran under CPU emulation (QEMU TCG): figures compare behaviour, not
    /// speed.
    pub emulated: bool,
    /// The nodes' kernel release (`uname -r` of the VMs' kernel, or of this machine for
    /// netns).
    pub kernel_release: String,
    /// How QEMU ran the VMs (`tcg`); empty for netns.
    pub accel: String,
}

/// The kind of place the nodes of a run lived in. Serialized in lower case: `"netns"`, `"vm"`,
/// `"ssh"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubstrateKind {
    /// One network namespace per node (and pod) on the harness's own machine and kernel.
    Netns,
    /// One QEMU virtual machine per node.
    Vm,
    /// One real host per node, reached over SSH: the nodes' own kernels and network.
    Ssh,
}

impl SubstrateKind {
    /// The name used in result files and on the command line: `netns`, `vm` or `ssh`.
    pub fn name(self) -> &'static str {
        match self {
            SubstrateKind::Netns => "netns",
            SubstrateKind::Vm => "vm",
            SubstrateKind::Ssh => "ssh",
        }
    }
}

impl fmt::Display for SubstrateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Substrate {
    /// Network namespaces on the harness's own machine, whose kernel is `kernel_release`.
    pub fn netns(kernel_release: impl Into<String>) -> Substrate {
        Substrate {
            kind: SubstrateKind::Netns,
            emulated: false,
            kernel_release: kernel_release.into(),
            accel: String::new(),
        }
    }

    /// One QEMU VM per node under TCG emulation (no KVM), booted with kernel
    /// `kernel_release`.
    pub fn vm_tcg(kernel_release: impl Into<String>) -> Substrate {
        Substrate {
            kind: SubstrateKind::Vm,
            emulated: true,
            kernel_release: kernel_release.into(),
            accel: TCG.into(),
        }
    }

    /// Real hosts reached over SSH, one per node, whose kernels are `kernel_release` (one
    /// release, or the hosts' releases joined by `, `).
    pub fn ssh(kernel_release: impl Into<String>) -> Substrate {
        Substrate {
            kind: SubstrateKind::Ssh,
            emulated: false,
            kernel_release: kernel_release.into(),
            accel: String::new(),
        }
    }

    /// Whether figures from `self` and `other` may be set side by side, divided or compared:
    /// the same kind, and both emulated or both native.
    pub fn comparable_with(&self, other: &Substrate) -> bool {
        self.kind == other.kind && self.emulated == other.emulated
    }

    /// How the nodes ran, without the kernel: `network namespaces`, `QEMU TCG emulation`,
    /// `QEMU KVM`.
    pub fn how(&self) -> String {
        match (self.kind, self.emulated, self.accel.is_empty()) {
            (SubstrateKind::Netns, false, _) => "network namespaces".into(),
            (SubstrateKind::Netns, true, _) => "network namespaces under CPU emulation".into(),
            (SubstrateKind::Vm, true, true) => "QEMU, CPU emulation".into(),
            (SubstrateKind::Vm, true, false) => {
                format!("QEMU {} emulation", self.accel.to_uppercase())
            }
            (SubstrateKind::Vm, false, true) => "QEMU".into(),
            (SubstrateKind::Vm, false, false) => format!("QEMU {}", self.accel.to_uppercase()),
            (SubstrateKind::Ssh, _, _) => "hosts reached over SSH".into(),
        }
    }
}

/// `vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64)`, `netns (network namespaces,
/// kernel 6.8.0-45-generic)`.
impl fmt::Display for Substrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.kind, self.how())?;
        if !self.kernel_release.is_empty() {
            write!(f, ", kernel {}", self.kernel_release)?;
        }
        f.write_str(")")
    }
}

/// A host-net baseline measured on another substrate than the run it was to be applied to
/// ([`crate::RunResult::apply_baseline`]): a ratio of an emulated figure to a native one (or
/// the other way round) means nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the {backend} baseline (run {baseline_run_id}) ran on {baseline} but run {run_id} ran on \
     {run}: ratios between emulated and native figures mean nothing; measure the baseline on \
     the run's substrate (VM runs with a VM baseline, namespace runs with a namespace \
     baseline), or pass --no-baseline"
)]
pub struct BaselineSubstrateMismatch {
    /// The run the baseline was for.
    pub run_id: String,
    /// Where that run's nodes lived.
    pub run: Box<Substrate>,
    /// The baseline's own run id.
    pub baseline_run_id: String,
    /// The baseline's backend (`host-net`).
    pub backend: String,
    /// Where the baseline's nodes lived.
    pub baseline: Box<Substrate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_json_shape() {
        let vm = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        assert_eq!(
            serde_json::to_value(&vm).unwrap(),
            serde_json::json!({
                "kind": "vm",
                "emulated": true,
                "kernel_release": "6.1.0-56-cloud-amd64",
                "accel": "tcg"
            })
        );
        let ns = Substrate::netns("6.8.0-45-generic");
        assert_eq!(
            serde_json::to_value(&ns).unwrap(),
            serde_json::json!({
                "kind": "netns",
                "emulated": false,
                "kernel_release": "6.8.0-45-generic",
                "accel": ""
            })
        );
        let back: Substrate = serde_json::from_value(serde_json::to_value(&vm).unwrap()).unwrap();
        assert_eq!(back, vm);
        // Every field is required: a v5 file says where it ran.
        let err = serde_json::from_str::<Substrate>(r#"{"kind":"vm","emulated":true}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `kernel_release`"), "{err}");
        assert!(serde_json::from_str::<Substrate>(
            r#"{"kind":"kvm","emulated":false,"kernel_release":"x","accel":""}"#
        )
        .is_err());
    }

    #[test]
    fn descriptions() {
        let vm = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        assert_eq!(
            vm.to_string(),
            "vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64)"
        );
        assert_eq!(vm.how(), "QEMU TCG emulation");
        let ns = Substrate::netns("6.8.0-45-generic");
        assert_eq!(
            ns.to_string(),
            "netns (network namespaces, kernel 6.8.0-45-generic)"
        );
        let kvm = Substrate {
            emulated: false,
            accel: "kvm".into(),
            ..vm.clone()
        };
        assert_eq!(
            kvm.to_string(),
            "vm (QEMU KVM, kernel 6.1.0-56-cloud-amd64)"
        );
    }

    #[test]
    fn only_like_substrates_compare() {
        let vm = Substrate::vm_tcg("6.1.0");
        let ns = Substrate::netns("6.8.0");
        assert!(vm.comparable_with(&Substrate::vm_tcg("6.12.0")));
        assert!(ns.comparable_with(&Substrate::netns("6.1.0")));
        assert!(!vm.comparable_with(&ns) && !ns.comparable_with(&vm));
        let kvm = Substrate {
            emulated: false,
            accel: "kvm".into(),
            ..vm.clone()
        };
        assert!(!kvm.comparable_with(&vm));
        assert!(!kvm.comparable_with(&ns));
    }
}
