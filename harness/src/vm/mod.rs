//! The VM substrate: each node is a small QEMU virtual machine with its own kernel.
//!
//! A node of the namespace substrate shares this machine's kernel, so it can only use the
//! datapaths that kernel has (this one has no IPIP module at all, docs/machine-notes.md "Kernel"). A VM
//! node boots a Debian cloud kernel of its own, with the modules cnbench needs (ipip, vxlan,
//! veth, bridge, tun), and runs the cnbench agent as its init's last step, driven over a
//! virtio-serial port that QEMU exposes as a unix socket on the host (docs/design.md §4a).
//!
//! The pieces, in the order a run uses them:
//! - [`setup`]: `cnbench setup vm` installs QEMU and a static busybox and unpacks a kernel
//!   package under [`assets::VM_DIR`]; [`Assets::locate`] finds them again (and
//!   [`assets::missing`] tells `cnbench list` what is absent).
//! - [`modules`]: the kernel modules a node loads, and their load order, read from each
//!   module's `.modinfo` (there is no `modprobe` in the VM).
//! - [`initramfs`]: writes the VM's whole root file system as one uncompressed cpio: busybox,
//!   the kernel modules in dependency order, the programs the node needs (the cnbench binary,
//!   iproute2, ...) with their shared libraries, and an `/init` that loads the modules, finds the
//!   control port and execs `/bin/cnbench agent --listen <port>`.
//! - [`qemu`]: the QEMU command line of one node ([`VmSpec`]) and the connection to its control
//!   socket.
//!
//! # Emulation, not virtualisation
//! VMs run under TCG, QEMU's pure software emulation. `/dev/kvm` exists on these machines but
//! is a paravirtual variant on which a stock Debian kernel dies with emulation failures
//! (docs/machine-notes.md "VMs (qemu) as nodes"), so KVM is never tried. Emulation makes every figure
//! measured between VMs 10–50× below native, with ±20–35 % spread: VM nodes show *behaviour*
//! (that a datapath works, conforms, uses the kernel's IPIP) and never speed. Results taken on
//! this substrate must say so.
//!
//! # Safety
//! QEMU is always started inside a namespace of the run (the hub), so its tap device is created
//! there and never in the machine's root namespace (docs/design.md §5 rule 1).

pub mod assets;
pub mod initramfs;
pub mod modules;
pub mod nodes;
pub mod qemu;
pub mod setup;

pub use assets::Assets;
pub use qemu::VmSpec;
