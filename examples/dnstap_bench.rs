//! dnstap throughput harness for bench/dnstap.sh.
//!
//!     dnstap_bench convert IN.pcap OUT.dnstap     # every DNS message of a capture as dnstap
//!                                                 # (CLIENT_QUERY / CLIENT_RESPONSE)
//!     dnstap_bench serve SOCKET WATCH.txt FRAMES  # listen like `run --dnstap-socket`, feed
//!                                                 # the pipeline until FRAMES frames, print the rate
//!     dnstap_bench send FILE.dnstap SOCKET [RATE] # stream a file over the bidirectional handshake,
//!                                                 # at RATE messages/s (default: as fast as it can)
//!     dnstap_bench pcap IN.pcap WATCH.txt         # the same traffic through Pipeline::packet
//!
//! `serve` runs the listener (tokio, current thread) and the pipeline
//! thread exactly as the daemon wires them: frames cross a bounded
//! `sync_channel` (full → dropped and counted), the pipeline thread decodes
//! protobuf and feeds `Pipeline::message`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnswatch::capture::file::FileSource;
use dnswatch::decode::{Datagram, DecodeConfig, Decoder};
use dnswatch::dnstap::frame::{self, Control, ControlType};
use dnswatch::dnstap::listen::{DnstapFrame, ListenConfig, Listeners, Push, QueueGate};
use dnswatch::dnstap::map::build;
use dnswatch::dnstap::proto::{MessageType, SocketProtocol};
use dnswatch::dnstap::{DnstapStats, Expander};
use dnswatch::pipeline::{Pipeline, PipelineConfig};
use dnswatch::watch::Watchlist;

type Res = Result<(), String>;

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let r = match a.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["convert", i, o] => convert(Path::new(i), Path::new(o)),
        ["serve", s, w, n] => serve(Path::new(s), Path::new(w), n.parse().unwrap_or(0)),
        ["send", f, s] => send(Path::new(f), Path::new(s), 0.0),
        ["send", f, s, r] => send(Path::new(f), Path::new(s), r.parse().unwrap_or(0.0)),
        ["pcap", i, w] => pcap(Path::new(i), Path::new(w)),
        _ => Err("usage: dnstap_bench convert|serve|send|pcap ... (see the source)".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dnstap_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn watchlist(path: &Path) -> Result<Arc<Watchlist>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    Watchlist::new(text.lines().filter(|l| !l.trim().is_empty()))
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn convert(input: &Path, output: &Path) -> Res {
    let mut src = FileSource::open(input).map_err(|e| e.to_string())?;
    let mut dec = Decoder::new(&DecodeConfig::default());
    let mut out = Control::dnstap(ControlType::Start).encode();
    let mut n = 0u64;
    while src.advance().map_err(|e| e.to_string())? {
        let Some(p) = src.current() else { break };
        dec.packet(p.ts_us, 0, p.link, p.data, &mut |d: &Datagram<'_>| {
            let response = d.payload.get(2).is_some_and(|b| b & 0x80 != 0);
            let f = if response {
                build(
                    b"bench",
                    MessageType::ClientResponse,
                    SocketProtocol::Udp,
                    d.dst,
                    d.src,
                    None,
                    Some((d.ts, d.payload)),
                )
            } else {
                build(
                    b"bench",
                    MessageType::ClientQuery,
                    SocketProtocol::Udp,
                    d.src,
                    d.dst,
                    Some((d.ts, d.payload)),
                    None,
                )
            };
            frame::encode_data(&f, &mut out);
            n += 1;
        });
    }
    out.extend(
        Control {
            kind: ControlType::Stop,
            content_types: vec![],
        }
        .encode(),
    );
    std::fs::write(output, &out).map_err(|e| e.to_string())?;
    println!("frames {n} bytes {}", out.len());
    Ok(())
}

fn send(file: &Path, socket: &Path, rate: f64) -> Res {
    let data = std::fs::read(file).map_err(|e| e.to_string())?;
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.write_all(&Control::dnstap(ControlType::Ready).encode())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 8];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize];
    s.read_exact(&mut body).map_err(|e| e.to_string())?;
    // The file is START, data frames, STOP: exactly what follows ACCEPT.
    // Sent in runs of 512 frames, paced to `rate` when given.
    let mut cuts = Vec::new();
    let mut pos = 0usize;
    let mut frames = 0u64;
    while pos + 4 <= data.len() {
        let n =
            u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        pos += if n == 0 {
            8 + u32::from_be_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]])
                as usize
        } else {
            frames += 1;
            4 + n
        };
        if frames % 512 == 0 || pos >= data.len() {
            cuts.push((pos.min(data.len()), frames));
        }
    }
    let t = Instant::now();
    let mut from = 0usize;
    for (to, sent) in cuts {
        if to <= from {
            continue;
        }
        s.write_all(&data[from..to]).map_err(|e| e.to_string())?;
        from = to;
        if rate > 0.0 {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            let now = t.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    let mut fin = [0u8; 12];
    s.read_exact(&mut fin).map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sent {frames} frames ({} bytes) in {secs:.3} s: {:.0} frames/s",
        data.len(),
        frames as f64 / secs
    );
    Ok(())
}

fn serve(socket: &Path, watch: &Path, frames: u64) -> Res {
    let mut pipeline = Pipeline::new(&PipelineConfig::default(), watchlist(watch)?);
    // As the daemon: a queue of chunks, bounded to 65,536 frames by a gate.
    let (tx, rx) = std::sync::mpsc::sync_channel::<DnstapFrame>(65_536);
    let gate = Arc::new(QueueGate::new(65_536));
    let g2 = gate.clone();
    let stats = Arc::new(DnstapStats::default());
    let cfg = ListenConfig {
        unix: vec![socket.to_path_buf()],
        ..ListenConfig::default()
    };
    let st = stats.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
        };
        rt.block_on(async move {
            match Listeners::bind(&cfg) {
                Ok(l) => {
                    let push: Push = Arc::new(move |f| {
                        let n = f.frames;
                        if !g2.try_acquire(n) {
                            return false;
                        }
                        let ok = tx.try_send(f).is_ok();
                        if !ok {
                            g2.release(n);
                        }
                        ok
                    });
                    l.spawn(st, push);
                    let _ = ready_tx.send(Ok(()));
                    std::future::pending::<()>().await;
                }
                Err(e) => drop(ready_tx.send(Err(e.to_string()))),
            }
        });
    });
    ready_rx.recv().map_err(|e| e.to_string())??;
    println!("listening on {}", socket.display());
    let mut x = Expander::new(
        false,
        Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        "bench",
    );
    let mut ids: Vec<u32> = Vec::new();
    let mut start: Option<Instant> = None;
    let mut last = Instant::now();
    let mut n = 0u64;
    let mut lookups = 0usize;
    while let Ok(f) = rx.recv_timeout(Duration::from_secs(if start.is_some() { 2 } else { 60 })) {
        start.get_or_insert_with(Instant::now);
        gate.release(f.frames);
        x.load_chunk(&f.peer, &f.data);
        // What the driver does with the expander's output.
        while let Some(b) = x.take_begin() {
            let id = pipeline.begin_source(&b.name);
            if ids.len() <= b.index {
                ids.resize(b.index + 1, 0);
            }
            ids[b.index] = id;
        }
        while let Some(m) = x.pop() {
            pipeline.select_source(ids.get(m.source).copied().unwrap_or(0));
            pipeline.message(m.ts_us, m.frame, m.src, m.dst, m.transport, &m.payload);
        }
        n += f.frames as u64;
        lookups += pipeline.take_lookups().len();
        last = Instant::now();
        if n >= frames {
            break;
        }
    }
    // From the first frame received to the last one fed.
    let secs = start.map_or(0.0, |s| (last - s).as_secs_f64()).max(1e-9);
    pipeline.finish();
    lookups += pipeline.take_lookups().len();
    let drops: u64 = stats
        .peers()
        .iter()
        .map(|p| p.drops.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let d = pipeline.dns_stats();
    println!(
        "dnstap frames {n} dns messages {} lookups {lookups} drops {drops} decode_errors {} seconds {secs:.3} msgs/s {:.0}",
        d.messages,
        x.errors,
        n as f64 / secs
    );
    Ok(())
}

fn pcap(input: &Path, watch: &Path) -> Res {
    let mut pipeline = Pipeline::new(&PipelineConfig::default(), watchlist(watch)?);
    let mut src = FileSource::open(input).map_err(|e| e.to_string())?;
    pipeline.begin_source("bench");
    let t = Instant::now();
    let mut n = 0u64;
    let mut lookups = 0usize;
    while src.advance().map_err(|e| e.to_string())? {
        let Some(p) = src.current() else { break };
        n += 1;
        pipeline.packet(p.ts_us, n, p.link, p.data);
        if n % 4096 == 0 {
            lookups += pipeline.take_lookups().len();
        }
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    pipeline.finish();
    lookups += pipeline.take_lookups().len();
    println!(
        "packets {n} dns messages {} lookups {lookups} seconds {secs:.3} msgs/s {:.0}",
        pipeline.dns_stats().messages,
        pipeline.dns_stats().messages as f64 / secs
    );
    Ok(())
}
