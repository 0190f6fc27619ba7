//! Renders real result files (copies of cnbench samples in tests/data, with the long
//! `costs[].method` texts shortened) and checks the files a reader gets.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cnbench_render::{write_report, Input, InputResult, RenderError};
use reports::{CheckOutcome, Sample, Substrate};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cnbench-render-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn inputs(names: &[&str]) -> Vec<Input> {
    names
        .iter()
        .map(|n| Input::read(&data(n)).unwrap_or_else(|e| panic!("{n}: {e}")))
        .collect()
}

/// Width and height from a PNG's header, after decoding the whole image.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .expect("a size that fits memory")
    ];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not blank: a drawn plot has dark pixels (text, frames) as well as white.
    assert!(buf.iter().any(|b| *b < 64), "{} is blank", path.display());
    (info.width, info.height)
}

const ALL: [&str; 4] = [
    "vxlan.json",
    "flannel-udp.json",
    "host-gw-l3.json",
    "bgp-scale.json",
];

/// Whether a plot left out is one of pod churn's (no sample here is a churn result).
fn is_churn(omitted: &str) -> bool {
    omitted.contains("no churn measurements among the inputs")
}

/// Whether the report's page says that plot `title` was left out.
fn html_left_out(files: &cnbench_render::ReportFiles, title: &str) -> bool {
    fs::read_to_string(&files.index_html)
        .unwrap()
        .contains(&format!("Plot left out, {title}: no churn measurements"))
}

#[test]
fn full_report_from_samples() {
    let dir = TempDir::new();
    let out = dir.0.join("report");
    let files = write_report(&inputs(&ALL), &out).unwrap();
    assert_eq!(files.dir, out);
    // No sample is a churn result: its two plots are the only ones left out.
    let churn = files.omitted.iter().filter(|o| is_churn(o)).count();
    assert_eq!((files.omitted.len(), churn), (2, 2), "{:?}", files.omitted);

    let names: Vec<&str> = files.plots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "throughput",
            "latency",
            "latency-cdf",
            "cpu-per-gb",
            "syscalls-per-packet",
            "crossings-per-packet",
            "device-xmits",
            "bgp-scale"
        ]
    );

    let html = fs::read_to_string(&files.index_html).unwrap();
    for forbidden in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(
            !html.contains(forbidden),
            "index.html contains {forbidden:?}"
        );
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), files.plots.len());
    for p in &files.plots {
        assert!(
            html.contains(&format!("<figure id=\"plot-{}\">\n<svg ", p.name)),
            "{} not inline",
            p.name
        );
        let svg = fs::read_to_string(&p.svg).unwrap();
        assert!(svg.starts_with("<svg "), "{}", p.name);
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {} {}\"", p.size.0, p.size.1)),
            "{}",
            p.name
        );
        // Text falls back to any sans-serif font where DejaVu Sans is not installed.
        assert!(
            svg.contains("font-family=\"DejaVu Sans, sans-serif\""),
            "{}",
            p.name
        );
        assert_eq!(png_size(&p.png), p.size, "{}", p.name);
        assert_eq!(p.size.0, 1200);
    }

    // Environment, parameters, conformance with evidence, baseline ratios.
    for expected in [
        "6.18.44-fc-v669",
        "0.1.0 (git c57ca2e0e8e7)",
        "2 × Intel(R) Xeon(R) Processor",
        "host-gw l3 underlay",
        "flannel-udp faithful",
        "host-net, vxlan session",
        "16 expected failures",
        "host-gw needs every node on one L2 segment",
        "55 pass · 16 xfail",
        "Compared with host-net",
        "0.870×",
        "Control-plane scale",
    ] {
        assert!(html.contains(expected), "index.html lacks {expected:?}");
    }

    let md = fs::read_to_string(&files.summary_md).unwrap();
    for expected in [
        "# cnbench report: vxlan, flannel-udp, host-gw, bgp",
        "## Conformance",
        "| reachability |",
        "![Throughput per backend](throughput.png)",
        // vxlan's cross-node tcp-stream median and its ratio to the session's host-net.
        "12.19 Gbit/s",
        "0.870×",
    ] {
        assert!(md.contains(expected), "summary.md lacks {expected:?}");
    }
}

#[test]
fn missing_data_is_left_out_with_a_note() {
    let dir = TempDir::new();
    // A run without a baseline and without scale results: no baseline row, no scale plot.
    let files = write_report(&inputs(&["host-gw-l3.json"]), &dir.0).unwrap();
    let omitted: Vec<&String> = files.omitted.iter().filter(|o| !is_churn(o)).collect();
    assert_eq!(omitted.len(), 1, "{:?}", files.omitted);
    assert!(omitted[0].starts_with("BGP control-plane scale: no scale result"));
    assert!(html_left_out(&files, "Pods per second against concurrency"));
    assert!(!dir.0.join("bgp-scale.svg").exists());
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("Plot left out, BGP control-plane scale"));
    assert!(!html.contains("host-net (baseline)"));

    // Only a scale result: the scale plot and nothing else.
    let dir = TempDir::new();
    let files = write_report(&inputs(&["bgp-scale.json"]), &dir.0).unwrap();
    let names: Vec<&str> = files.plots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["bgp-scale"]);
    assert_eq!(files.omitted.len(), 9);
}

#[test]
fn same_backend_twice_is_labelled_by_file() {
    let dir = TempDir::new();
    let mut two = inputs(&["host-gw-l3.json", "host-gw-l3.json"]);
    two[1].name = "host-gw-l3-again.json".into();
    let files = write_report(&two, &dir.0).unwrap();
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("host-gw l3 underlay (host-gw-l3-again.json)"));
}

#[test]
fn failures_are_open_and_external_generators_labelled() {
    let dir = TempDir::new();
    let mut runs = inputs(&["host-gw-l3.json", "vxlan.json"]);
    let InputResult::Run(r) = &mut runs[0].result else {
        panic!("host-gw-l3.json is a run result");
    };
    r.checks[0].outcome = CheckOutcome::Fail;
    r.checks[0].actual = "cni0 missing".into();
    r.checks[0].reason = Some("the bridge was never created".into());
    let InputResult::Run(v) = &mut runs[1].result else {
        panic!("vxlan.json is a run result");
    };
    for m in &mut v.measurements {
        m.generator = "iperf3 3.12".into();
    }
    let files = write_report(&runs, &dir.0).unwrap();
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(
        html.contains("<details open><summary>host-gw l3 underlay: 1 failed checks</summary>"),
        "failed checks not shown open"
    );
    assert!(html.contains("<td>cni0 missing</td><td>the bridge was never created</td>"));
    assert!(html.contains("<td class=\"fail\">6 pass · 1 FAIL</td>"));
    assert!(html.contains("vxlan [iperf3 3.12]"));
    assert!(html.contains("external traffic generator"));
    let md = fs::read_to_string(&files.summary_md).unwrap();
    assert!(md.contains("### Failed checks: host-gw l3 underlay (1)"));
}

#[test]
fn empty_input_set_is_a_clear_error() {
    let dir = TempDir::new();
    let err = write_report(&[], &dir.0).unwrap_err();
    assert!(matches!(err, RenderError::NoInputs));
    assert!(
        err.to_string().contains("pass one or more result files"),
        "{err}"
    );
}

#[test]
fn unwritable_output_names_the_directory() {
    let dir = TempDir::new();
    let file = dir.0.join("a-file");
    fs::write(&file, "x").unwrap();
    let out = file.join("report");
    let err = write_report(&inputs(&["bgp-scale.json"]), &out).unwrap_err();
    assert!(matches!(err, RenderError::CreateDir { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&out.display().to_string()), "{msg}");
    assert!(
        msg.contains("pass --out a directory you can write to"),
        "{msg}"
    );
}

#[test]
fn bad_input_files_name_the_file() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing.json");
    let err = Input::read(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");

    let scale = dir.0.join("old-scale.json");
    fs::write(&scale, r#"{"kind":"scale","schema_version":1}"#).unwrap();
    let err = Input::read(&scale).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Read(reports::ReportError::SchemaVersion {
                found: 1,
                oldest: 5,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("old-scale.json"), "{err}");

    let junk = dir.0.join("junk.json");
    fs::write(&junk, "not json").unwrap();
    let err = Input::read(&junk).unwrap_err();
    assert!(err.to_string().contains("junk.json"), "{err}");
}

/// Renders every sample in `CNBENCH_RENDER_SAMPLES` (a directory) into
/// `CNBENCH_RENDER_OUT`, to look at the plots; does nothing unless both are set.
#[test]
fn render_sample_directory_when_asked() {
    let (Some(samples), Some(out)) = (
        std::env::var_os("CNBENCH_RENDER_SAMPLES"),
        std::env::var_os("CNBENCH_RENDER_OUT"),
    ) else {
        return;
    };
    let mut paths: Vec<PathBuf> = fs::read_dir(samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let inputs: Vec<Input> = paths.iter().map(|p| Input::read(p).unwrap()).collect();
    let files = write_report(&inputs, Path::new(&out)).unwrap();
    eprintln!("{files:#?}");
}

#[test]
fn faults_are_tabled_with_the_checks_that_failed_after_them() {
    let dir = TempDir::new();
    let files = write_report(
        &inputs(&["vxlan-faults.json", "vxlan-broken-vtep.json"]),
        &dir.0,
    )
    .unwrap();
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(
        html.contains("<h2 id=\"faults\">Faults</h2>"),
        "no faults section"
    );
    for fault in ["loss 10 %", "link-flap", "vtep-change", "node-restart"] {
        assert!(html.contains(fault), "{fault} missing");
    }
    // The committed figures: the loss fault's TCP throughput and the broken recovery.
    assert!(
        html.contains("11.64 Gbit/s → 58.45 Mbit/s (0.01×)"),
        "tcp under loss"
    );
    assert!(html.contains("never (8 pairs)"), "broken recovery's pairs");
    assert!(html.contains("69/90"), "broken recovery's checks");
    assert!(html.contains("Checks that failed after a fault"));
    assert!(
        html.contains("flannel.1 fdb"),
        "the stale FDB entry as evidence"
    );
    let md = fs::read_to_string(dir.0.join("summary.md")).unwrap();
    assert!(md.contains("## Faults"), "{md}");
    assert!(md.contains("| NOT RECOVERED |"), "{md}");
}

const VM_KERNEL: &str = "6.1.0-56-cloud-amd64";

/// `input` as if its nodes had been QEMU VMs under TCG emulation (its session baseline too),
/// renamed to `name` and given run id `run_id`; its tcp-stream figures are divided by 20, as
/// emulation does, and its ratios to the baseline computed again.
fn on_vms(mut input: Input, name: &str, run_id: &str) -> Input {
    input.name = name.into();
    match &mut input.result {
        InputResult::Run(r) => {
            r.run_id = run_id.into();
            r.substrate = Substrate::vm_tcg(VM_KERNEL);
            for m in &mut r.measurements {
                for s in &mut m.repetitions {
                    if let Sample::TcpStream(t) = s {
                        t.throughput_bps /= 20.0;
                    }
                }
                m.summarize();
            }
            if let Some(mut b) = r.baseline.take() {
                b.substrate = Substrate::vm_tcg(VM_KERNEL);
                r.apply_baseline(b).unwrap();
            }
        }
        InputResult::Scale(s) => s.substrate = Substrate::vm_tcg(VM_KERNEL),
    }
    input
}

/// The part of `text` from `from` up to `to` (or the end).
fn between<'a>(text: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} missing"));
    let rest = &text[start..];
    match to {
        Some(to) => &rest[..rest.find(to).unwrap_or_else(|| panic!("{to:?} missing"))],
        None => rest,
    }
}

#[test]
fn emulated_vm_results_are_kept_apart_and_marked() {
    let dir = TempDir::new();
    let mut all = inputs(&["vxlan.json", "host-gw-l3.json", "bgp-scale.json"]);
    let vm = inputs(&["vxlan.json", "bgp-scale.json"]);
    let mut vm = vm.into_iter();
    all.insert(1, on_vms(vm.next().unwrap(), "vxlan-vm.json", "vm0001"));
    all.push(on_vms(vm.next().unwrap(), "bgp-scale-vm.json", "-"));
    let files = write_report(&all, &dir.0).unwrap();

    // Two sets of plots: the namespace ones as always, the emulated ones prefixed and marked.
    let (vm_plots, ns_plots): (Vec<_>, Vec<_>) = files
        .plots
        .iter()
        .partition(|p| p.name.starts_with("vm-emulated-"));
    let names = |ps: &[&cnbench_render::PlotFiles]| -> Vec<String> {
        ps.iter()
            .map(|p| p.name.trim_start_matches("vm-emulated-").to_owned())
            .collect()
    };
    assert_eq!(names(&ns_plots), names(&vm_plots));
    assert_eq!(ns_plots.len(), 8, "{:?}", files.plots);
    for p in &vm_plots {
        assert!(p.title.ends_with(" — VM results (emulated)"), "{}", p.title);
        assert!(p.svg.ends_with(format!("{}.svg", p.name)));
        let svg = fs::read_to_string(&p.svg).unwrap();
        assert!(
            svg.contains("Emulated (QEMU TCG emulation): figures compare behaviour, not speed."),
            "{} has no emulation note",
            p.name
        );
        assert_eq!(png_size(&p.png), p.size, "{}", p.name);
    }
    for p in &ns_plots {
        assert!(p.title.ends_with(" — namespace results"), "{}", p.title);
        let svg = fs::read_to_string(&p.svg).unwrap();
        assert!(!svg.contains("Emulated"), "{}", p.name);
    }

    let html = fs::read_to_string(&files.index_html).unwrap();
    // Said at the top, before anything else.
    let top = between(&html, "<h1>", Some("<nav>"));
    assert!(
        top.contains(
            "<b>Emulated:</b> vxlan-vm.json, bgp-scale-vm.json ran under QEMU TCG emulation; \
             their figures compare behaviour, not speed, and are shown apart, under \
             <a href=\"#vm-emulated\">VM results (emulated)</a>."
        ),
        "{top}"
    );
    let nav = between(&html, "<nav>", Some("</nav>"));
    assert!(nav.contains("<a href=\"#namespace-results\">Namespace results</a>"));
    assert!(nav.contains("<a href=\"#vm-emulated\">VM results (emulated)</a>"));
    // The inputs say where each ran.
    assert!(html.contains(
        "<td>vxlan-vm.json</td><td>run</td><td>vxlan</td><td class=\"xfail\">vm (QEMU TCG \
         emulation, kernel 6.1.0-56-cloud-amd64)</td><td>vm0001</td>"
    ));

    // Namespace results first, then the emulated ones, each only with its own.
    let ns = between(
        &html,
        "<h2 id=\"namespace-results\">Namespace results</h2>",
        Some("<h2 id=\"vm-emulated\">"),
    );
    let vm = between(
        &html,
        "<h2 id=\"vm-emulated\">VM results (emulated)</h2>",
        None,
    );
    // vxlan's cross-node tcp-stream median: native in one, a twentieth of it in the other.
    let (native, emulated) = ("12.19 Gbit/s", "609.3 Mbit/s");
    assert!(ns.contains(native) && !ns.contains(emulated));
    assert!(vm.contains(emulated) && !vm.contains(native));
    for (part, own, other) in [(ns, "e5e9fa", "vm0001"), (vm, "vm0001", "e5e9fa")] {
        assert!(part.contains(own) && !part.contains(other));
    }
    assert!(
        ns.contains("8b603e") && !vm.contains("8b603e"),
        "host-gw's run id"
    );
    assert!(ns.contains("bgp-scale.json") && !ns.contains("bgp-scale-vm.json"));
    assert!(vm.contains("bgp-scale-vm.json") && !vm.contains("<td>bgp-scale.json</td>"));
    // Ratios within the VM results are to the VM baseline.
    assert!(vm.contains("Compared with host-net"));
    assert!(vm.contains("0.0435×"), "VM ratio");
    assert!(!vm.contains("0.870×") && ns.contains("0.870×"));

    // The emulated section says so, and so does every heading and caption in it.
    assert!(vm.contains(
        "<p class=\"emulated\">substrate: vm (QEMU TCG emulation, kernel \
         6.1.0-56-cloud-amd64): figures compare behaviour, not speed</p>"
    ));
    assert!(vm.contains("QEMU TCG emulates every instruction in software"));
    let headings: Vec<&str> = vm
        .lines()
        .filter(|l| l.starts_with("<h3") || l.starts_with("<h4"))
        .collect();
    assert!(headings.len() >= 8, "{headings:?}");
    for h in &headings {
        assert!(h.contains(" — VM results (emulated)</h"), "{h}");
    }
    assert!(vm.contains("<h3 id=\"vm-emulated-results\">Results — VM results (emulated)</h3>"));
    let captions = vm.matches("<figcaption>").count();
    assert_eq!(captions, vm_plots.len());
    assert_eq!(
        vm.matches("</b> Emulated: QEMU TCG emulates every instruction")
            .count(),
        captions
    );
    assert!(
        !ns.contains("Emulated"),
        "namespace section marked as emulated"
    );
    assert!(ns.contains("<h3 id=\"results\">Results — namespace results</h3>"));

    let md = fs::read_to_string(&files.summary_md).unwrap();
    assert!(md
        .contains("> **Emulated:** vxlan-vm.json, bgp-scale-vm.json ran under QEMU TCG emulation"));
    let md_ns = between(
        &md,
        "## Namespace results\n",
        Some("## VM results (emulated)\n"),
    );
    let md_vm = between(&md, "## VM results (emulated)\n", None);
    assert!(md_vm.contains(
        "> **Emulated:** substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): \
         figures compare behaviour, not speed"
    ));
    assert!(md_vm.contains("### Headline medians — VM results (emulated)"));
    assert!(md_vm
        .contains("![Throughput per backend — VM results (emulated)](vm-emulated-throughput.png)"));
    assert!(md_vm.contains(emulated) && !md_vm.contains(native));
    assert!(md_ns.contains(native) && !md_ns.contains(emulated));
    assert!(md_ns.contains("### Headline medians — namespace results"));
}

#[test]
fn vm_results_alone_are_still_marked() {
    let dir = TempDir::new();
    let vm = on_vms(
        inputs(&["host-gw-l3.json"]).remove(0),
        "host-gw-vm.json",
        "vm0002",
    );
    let files = write_report(&[vm], &dir.0).unwrap();
    assert!(files
        .plots
        .iter()
        .all(|p| p.name.starts_with("vm-emulated-")));
    assert!(files
        .omitted
        .iter()
        .filter(|o| !is_churn(o))
        .all(|o| o.starts_with("BGP control-plane scale — VM results (emulated): ")));
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("<h2 id=\"vm-emulated\">VM results (emulated)</h2>"));
    assert!(!html.contains("Namespace results"));
    assert!(html.contains("<b>Emulated:</b> host-gw-vm.json ran under QEMU TCG emulation"));
}

#[test]
fn a_baseline_on_another_substrate_is_left_out() {
    let dir = TempDir::new();
    let mut vm = on_vms(inputs(&["vxlan.json"]).remove(0), "vxlan-vm.json", "vm0003");
    // A VM run that carries a namespace baseline (and ratios to it): never shown together.
    let InputResult::Run(r) = &mut vm.result else {
        panic!("vxlan.json is a run result");
    };
    r.baseline.as_mut().unwrap().substrate = Substrate::netns("6.18.44-fc-v669");
    let files = write_report(&[vm], &dir.0).unwrap();
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(!html.contains("Compared with host-net"));
    assert!(!html.contains("host-net (baseline)"));
    assert!(!html.contains("0.0435×"));
    assert!(html.contains(
        "left out: measured on netns (network namespaces, kernel 6.18.44-fc-v669) (run d4bdde)"
    ));
    assert!(html.contains(
        "its host-net baseline (run d4bdde) ran on netns (network namespaces, kernel \
         6.18.44-fc-v669) but the run on vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): \
         the baseline and the ratios to it are left out"
    ));
}

/// The page and summary.md open with the design-review screen: every backend and path against
/// host-net, structural costs, the verdict and the warnings, before inputs and parameters;
/// headings name metrics in words with units, never by their field names.
#[test]
fn the_report_opens_with_each_backend_against_host_net() {
    let dir = TempDir::new();
    let files = write_report(
        &inputs(&["vxlan.json", "flannel-udp.json", "host-gw-l3.json"]),
        &dir.0,
    )
    .unwrap();
    let html = fs::read_to_string(&files.index_html).unwrap();
    let glance = between(
        &html,
        "<h2 id=\"at-a-glance\">At a glance</h2>",
        Some("<nav>"),
    );
    assert!(
        html.find("At a glance").unwrap() < html.find("<h2 id=\"inputs\">").unwrap(),
        "the overview comes first"
    );
    for expected in [
        "<th>TCP throughput (Gbit/s)</th>",
        "<th>round trip p50 (µs)</th>",
        "<th>CPU time per GB (s)</th>",
        "<th>crossings per packet (sending / receiving node)</th>",
        "<th>device transmissions per packet</th>",
        "<th>conformance checks</th>",
        // vxlan cross-node against its session's host-net.
        "<td class=\"num\">12.2</td><td class=\"xfail\">0.870×</td>",
        // flannel-udp's userspace datapath: three crossings, six transmissions a packet.
        "<td class=\"num\">3 / 3</td><td class=\"num\">6</td><td class=\"pass\">88 passed</td>",
        "<td class=\"xfail\">55 passed · 16 expected failures</td>",
        "host-gw l3 underlay</b>: no host-net baseline was measured",
    ] {
        assert!(
            glance.contains(expected),
            "at a glance lacks {expected:?}:\n{glance}"
        );
    }
    // No heading anywhere names a metric by its field name.
    for field in [
        "throughput_bps",
        "rtt_p50_ns",
        "packets_per_s",
        "cpu_s_per_gb",
    ] {
        assert!(
            !html.contains(&format!("<th>{field}")) && !html.contains(&format!("<td>{field}</td>")),
            "{field} shown by its field name"
        );
    }
    let md = fs::read_to_string(&files.summary_md).unwrap();
    let at = md
        .find("## At a glance")
        .expect("summary.md has the overview");
    assert!(at < md.find("## Inputs").unwrap(), "{md}");
    assert!(
        md.contains("| backend | path | TCP throughput (Gbit/s) |"),
        "{md}"
    );
    assert!(md.contains("| 12.2 | 0.870× |"), "{md}");
}

#[test]
fn churn_results_get_their_plots_and_table() {
    let dir = TempDir::new();
    let inputs = vec![
        Input::run(
            "vxlan-churn.json",
            reports::fixtures::churn_result("ch01", "vxlan", 1.0, 100.0, false),
        ),
        Input::run(
            "bgp-churn.json",
            reports::fixtures::churn_result("ch02", "bgp", 0.5, 150.0, true),
        ),
    ];
    let files = write_report(&inputs, &dir.0).unwrap();
    let names: Vec<&str> = files.plots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["churn-reachable-cdf", "churn-rate"], "{names:?}");
    for p in &files.plots {
        assert!(p.png.exists() && p.svg.exists(), "{}", p.name);
        let svg = fs::read_to_string(&p.svg).unwrap();
        assert!(svg.contains("vxlan") && svg.contains("bgp"), "{}", p.name);
    }
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("<figure id=\"plot-churn-reachable-cdf\">"));
    assert!(html.contains("<h2 id=\"churn\">Pod churn</h2>"));
    let md = fs::read_to_string(&files.summary_md).unwrap();
    assert!(md.contains("## Pod churn"), "{md}");
    assert!(md.contains("![Pods per second against concurrency](churn-rate.png)"));
}
