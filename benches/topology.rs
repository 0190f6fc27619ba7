//! How long standing up and tearing down a topology takes, through the same code path as
//! `cnbench run` (plan, namespaces, underlay, backend setup; then teardown). Needs root: it
//! builds real namespaces, each iteration with its own run id, and removes them.
//!
//! `cargo bench --bench topology` prints the median per topology (each iteration follows the
//! previous one's teardown at once, so it includes waiting on the kernel's cleanup of it).

use criterion::{criterion_group, criterion_main, Criterion};
use harness::run::{Launch, Topology};
use harness::state::Mode;
use harness::topology::{new_run_id, TopologyRequest};
use harness::Backend;

fn up_down(backend: &dyn Backend) {
    let plan = backend
        .info()
        .plan(&TopologyRequest::default(), new_run_id())
        .expect("default plan is valid");
    let launch = Launch {
        mode: Mode::Run,
        backend_options: Default::default(),
        exe: std::env::current_exe().expect("bench binary"),
    };
    let topo = Topology::up(backend, plan, launch).expect("topology comes up");
    let errors = topo.down(backend);
    assert!(errors.is_empty(), "teardown: {errors:?}");
}

fn bench(c: &mut Criterion) {
    if !harness::detect::is_root() {
        panic!("the topology benchmark builds namespaces: run it as root");
    }
    let mut g = c.benchmark_group("up+down");
    g.sample_size(30);
    g.bench_function("host-net 2 nodes l2", |b| {
        b.iter(|| up_down(&backend_host_net::HostNet))
    });
    g.bench_function("bridge 1 node 2 pods", |b| {
        b.iter(|| up_down(&backend_bridge::Bridge))
    });
    // Issue 21's set-up target is for this one: 2 nodes, l2 underlay, a kernel VXLAN device
    // per node (ci/setup-times.sh measures the same through `cnbench run`, with checks).
    g.bench_function("vxlan 2 nodes l2", |b| {
        b.iter(|| up_down(&backend_vxlan::Vxlan::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
