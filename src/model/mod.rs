//! The model every stage shares: what a lookup is, what an alert is, the
//! hourly counters and what an earlier run left behind. Plain data, no I/O:
//! `pipeline`, `detect`, `store` and the sinks all depend on it and on
//! nothing above it.

mod alert;
pub mod community_id;
mod ecs;
mod history;
mod lookup;
mod rrset;
mod traffic;

pub use alert::{Alert, Severity, Shape};
pub use history::Preload;
pub use lookup::{opcode_name, Answer, Counts, Edns, Lookup};
pub use rrset::{PdnsScope, Rrset, RrsetAggregator};
pub use traffic::HourRow;
