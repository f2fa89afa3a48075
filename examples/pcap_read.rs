//! Reference for benchmarks: read every packet of a capture through libpcap
//! (the `pcap` crate) and do nothing else. `dnswatch replay` cannot be faster.
//!
//!     cargo run --release --example pcap_read -- FILE.pcap

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: pcap_read FILE");
        return ExitCode::from(2);
    };
    let mut cap = match pcap::Capture::from_file(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    let t = std::time::Instant::now();
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        packets += 1;
        bytes += p.data.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "packets {packets} bytes {bytes} seconds {secs:.3} pps {:.0}",
        packets as f64 / secs
    );
    ExitCode::SUCCESS
}
