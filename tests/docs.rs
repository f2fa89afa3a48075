//! The checked-in man pages and completions (`dist/`) are what the clap
//! definitions generate now: regenerate with `cargo run --example gen-docs`.

#[path = "../examples/gen-docs.rs"]
mod gen_docs;

use std::path::Path;

#[test]
fn man_pages_and_completions_are_current() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let fresh = gen_docs::generate(tmp.path()).unwrap();
    assert!(
        fresh.iter().any(|f| f.ends_with("man/dnswatch-run.1")),
        "{fresh:?}"
    );
    let mut stale = Vec::new();
    for f in &fresh {
        let rel = f.strip_prefix(tmp.path()).unwrap();
        let want = std::fs::read(f).unwrap();
        match std::fs::read(repo.join("dist").join(rel)) {
            Ok(have) if have == want => {}
            _ => stale.push(rel.display().to_string()),
        }
    }
    // And nothing checked in that is no longer generated.
    for sub in ["man", "completions"] {
        if let Ok(dir) = std::fs::read_dir(repo.join("dist").join(sub)) {
            for e in dir.flatten() {
                let rel = Path::new(sub).join(e.file_name());
                if !tmp.path().join(&rel).exists() {
                    stale.push(format!("{} (no longer generated)", rel.display()));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "dist/ is stale: {stale:?}; run `cargo run --example gen-docs` and commit dist/"
    );
}
