//! Tests of the chart layer.

use super::*;
use paint::fit;

#[test]
fn long_labels_are_shortened_in_the_middle() {
    let long = "host-net (session of flannel-udp faithful, l3 underlay, cross-cpu)";
    let s = fit(long, LABEL_SIZE, 200);
    assert!(text_width(&s, LABEL_SIZE) <= 200, "{s}");
    assert!(s.starts_with("host-net") && s.contains('…'), "{s}");
    assert_eq!(fit("vxlan", LABEL_SIZE, 200), "vxlan");
}

#[test]
fn crowded_tick_labels_are_thinned() {
    let keep = thin(&[(0, 40), (30, 40), (60, 40), (90, 40)], 10);
    assert_eq!(keep, vec![true, false, true, false]);
}

#[test]
fn nines_axis_labels() {
    let a = Axis::new("share", Quantity::Fixed(""), Scale::Nines);
    let r = resolve(&a, &[0.0, 0.3, 4.7], 400, true, 0.0);
    let labels: Vec<&str> = r.ticks.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    );
    assert_eq!(r.hi, 5.0);
}

#[test]
fn auto_scale_goes_log_for_wide_ranges() {
    let a = Axis::new("Round-trip time", Quantity::Nanoseconds, Scale::Auto);
    let r = resolve(&a, &[12_800.0, 477_000.0], 400, true, 0.0);
    assert!(r.log);
    assert_eq!(r.title, "Round-trip time (µs, log scale)");
    let r = resolve(&a, &[12_800.0, 25_000.0], 400, true, 0.0);
    assert!(!r.log);
    assert_eq!(r.title, "Round-trip time (µs)");
}
