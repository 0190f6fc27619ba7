//! Runs one agent outside the cnbench binary, for comparing the generators with iperf3 and
//! sockperf by hand:
//!
//! ```text
//! cargo run --release -p cnbench-workloads --example agent -- '{"role":"serve","workload":"tcp-rr","bind":"127.0.0.1:5201","cpu":0}'
//! cargo run --release -p cnbench-workloads --example agent -- '{"role":"client","workload":"tcp-rr","target":"127.0.0.1:5201","duration_ms":5000,"warmup_ms":1000,"streams":1,"message_size":64,"cpu":0}'
//! ```

use cnbench_workloads::{run_agent, AgentTask};

fn main() {
    let Some(json) = std::env::args().nth(1) else {
        eprintln!("usage: agent '<AgentTask JSON>'");
        std::process::exit(2);
    };
    let result =
        AgentTask::from_json(&json).and_then(|task| run_agent(&task, &mut std::io::stdout()));
    if let Err(e) = result {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}
