//! Records the git revision the binary was built from (for the result's environment and
//! `cnbench --version`).
fn main() {
    // Rebuild when HEAD moves: HEAD itself, and the branch file it points to.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{branch}");
        }
    }
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if !rev.is_empty() {
        println!("cargo:rustc-env=CNBENCH_GIT_REV={rev}");
        // What `cnbench --version` prints.
        let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
        println!("cargo:rustc-env=CNBENCH_VERSION_LINE={version} ({rev})");
    }
}
