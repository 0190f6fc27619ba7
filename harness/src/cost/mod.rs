//! What a measurement costs, and where: per role process (CPU, syscalls, user/kernel
//! crossings), for the whole machine (CPU including softirq), per device a packet crosses
//! (`net:net_dev_xmit`), and the kernel's error counters (TCP retransmissions, UDP drops).
//!
//! Each machine is measured on itself: the harness's counters cover the roles and devices on
//! its machine ([`Window`]), and a node agent opens the same window on its machine for the
//! roles and devices there (`Call::CostStart`), so nodes in VMs or on hosts reached over SSH
//! get per-process costs too ([`CostSession`] combines them).
//!
//! Every counter that cannot be opened or read is reported as unavailable with the reason,
//! never as zero. Tracepoints are counted with `perf_event_open` (no external perf binary);
//! they fire in kernel mode, so kernel events are included, and they are global across
//! namespaces, so they are scoped by thread id or device name.

mod machine;
pub mod process;
mod session;
mod snmp;
mod window;
mod xmit;

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;

use perf_event::Counter;

pub use machine::CpuTimes;
pub use process::{cpu_ns, SyscallCounter};
pub use session::{CostScope, CostSession};
pub use snmp::Snmp;
pub use window::{PacketCounter, RoleReading, RoleSpec, Window, WindowReading};
pub use xmit::XmitCounter;

/// How the cost figures are obtained, for the result.
pub const METHOD: &str = "packets and bytes: the client pod's eth0 counters, sent plus received, over the \
     repetition (warm-up included); syscalls: perf_event_open on tracepoint raw_syscalls:sys_enter per thread \
     of each role process, per packet of the role's own device (pod eth0 or daemon TUN); crossings: the \
     data-moving syscalls among them (read/write/readv/writev/send*/recv* and their mmsg forms); node \
     crossings: the sum over the roles on that node; CPU: /proc/<pid>/task/*/schedstat per role, /proc/stat \
     for the machine (softirq included); device transmissions: tracepoint net:net_dev_xmit on every CPU \
     filtered by the run's device names, cross-checked with the tx counters of every device of the run; \
     kernel counters: /proc/net/snmp in the client's, server's and their nodes' namespaces; roles, CPU and \
     device transmissions of nodes on a node agent's machine (a VM, a host over SSH): measured the same way \
     by that agent on its machine, per machine in `machines`, the transmissions summed over every machine";

/// Where tracefs lives (debugfs is not needed).
const TRACEFS: &str = "/sys/kernel/tracing";

/// `_IOW('$', 6, char *)`: attach a tracepoint filter to a perf counter.
const PERF_EVENT_IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;

/// The id of tracepoint `sys/name`, mounting tracefs if it is not mounted yet.
pub fn tracepoint_id(sys: &str, name: &str) -> Result<u64, String> {
    let events = Path::new(TRACEFS).join("events");
    if !events.exists() {
        // SAFETY: plain mount(2) of the tracefs pseudo filesystem on its standard mount point;
        // all pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            let src = CString::new("nodev").expect("no NUL");
            let dst = CString::new(TRACEFS).expect("no NUL");
            let fs = CString::new("tracefs").expect("no NUL");
            libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null())
        };
        if rc != 0 {
            return Err(format!(
                "tracefs is not mounted at {TRACEFS} and mounting it failed ({})",
                std::io::Error::last_os_error()
            ));
        }
    }
    let path = events.join(sys).join(name).join("id");
    fs::read_to_string(&path)
        .map_err(|e| format!("tracepoint {sys}:{name}: {}: {e}", path.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("tracepoint {sys}:{name}: bad id: {e}"))
}

/// Attaches an ftrace filter expression to a tracepoint counter.
fn set_filter(c: &Counter, filter: &str) -> Result<(), String> {
    let f =
        CString::new(filter).map_err(|_| "tracepoint filter contains a NUL byte".to_string())?;
    // SAFETY: the ioctl reads a NUL-terminated string that outlives the call; the fd is the
    // counter's own.
    let rc = unsafe { libc::ioctl(c.as_raw_fd(), PERF_EVENT_IOC_SET_FILTER, f.as_ptr()) };
    if rc != 0 {
        return Err(format!(
            "tracepoint filter `{filter}`: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
