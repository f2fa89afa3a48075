//! dnswatch: passive DNS capture and live monitor.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! capture ──► decode ──► dns ──► watch ──► pipeline (pairing → Lookup) ──► flow ──► store
//! (pcap file,  (link, IP,   (pre-parse,  (names,   │                              └─► detect ──► alert
//!  interface)   defrag,      hickory      zones,   │
//!               tunnels,     full decode) prefixes)│
//!               TCP)                               │
//! ```
//!
//! * [`capture`] yields frames with packet timestamps, the only clock the
//!   detectors use, so a replay gives the same results every time.
//! * [`decode`] turns frames into DNS payloads with endpoints.
//! * [`dns`] pre-parses every message and fully decodes the watched ones;
//!   it is the only module that uses `hickory-proto`.
//! * [`watch`] matches names and addresses in time independent of list size.
//! * [`pipeline`] pairs queries and responses into [`lookup::Lookup`]s.
//! * [`flow`] batches lookups into the [`store`] and feeds [`detect`].

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alert;
pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod dns;
pub mod driver;
pub mod exit;
pub mod files;
pub mod model;
pub mod pipeline;
pub mod privacy;
pub mod privileges;
pub mod store;
pub mod time;
pub mod watch;
