//! Writes the man pages and shell completions generated from the clap
//! definitions (`src/cli.rs`) into `dist/`:
//!
//! ```sh
//! cargo run --example gen-docs            # after changing src/cli.rs
//! ```
//!
//! `tests/docs.rs` fails while the checked-in files differ from what this
//! generates.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Man pages under `out/man`, completions under `out/completions`; the
/// files written, sorted.
pub fn generate(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let cmd = dnswatch::cli::Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "dnswatch", &completions)?;
    }
    let mut files = Vec::new();
    for dir in [&man, &completions] {
        for e in std::fs::read_dir(dir)? {
            files.push(e?.path());
        }
    }
    files.sort();
    Ok(files)
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    match generate(&out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-docs: {}: {e}", out.display());
            std::process::ExitCode::FAILURE
        }
    }
}
