//! Live capture on an interface through libpcap.

use pcap::{Active, Capture};

use super::{timeval_us, CaptureError, PacketSource, RawPacket};
use crate::decode::LinkType;

/// Live capture settings.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Bytes captured per packet.
    pub snaplen: i32,
    /// Kernel buffer in bytes.
    pub buffer_bytes: i32,
    /// BPF filter.
    pub filter: String,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Immediate mode.
    pub immediate: bool,
}

/// The default BPF filter: DNS on the given ports over UDP and TCP, plus IP
/// fragments (non-first fragments carry no ports).
pub fn default_filter(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    let ports = ports.join(" or ");
    format!("(udp or tcp) and ({ports}) or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)")
}

/// A live capture.
pub struct LiveSource {
    cap: Capture<Active>,
    name: String,
    link: LinkType,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("name", &self.name)
            .finish()
    }
}

/// Kernel-level counters of a live capture.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelStats {
    /// Packets received by the filter.
    pub received: u64,
    /// Dropped for lack of buffer space.
    pub dropped: u64,
    /// Dropped by the interface/driver.
    pub if_dropped: u64,
}

impl LiveSource {
    /// Opens `iface` in immediate mode with a 100 ms read timeout.
    pub fn open(iface: &str, cfg: &LiveConfig) -> Result<Self, CaptureError> {
        let err = |e: pcap::Error| CaptureError::Interface {
            iface: iface.to_string(),
            reason: e.to_string(),
        };
        let mut cap = Capture::from_device(iface)
            .map_err(err)?
            .immediate_mode(cfg.immediate)
            .snaplen(cfg.snaplen)
            .buffer_size(cfg.buffer_bytes)
            .promisc(cfg.promiscuous)
            .timeout(100)
            .open()
            .map_err(err)?
            // Non-blocking: with immediate mode, libpcap on Linux may ignore
            // the read timeout and block until traffic arrives, which would
            // keep a shutdown waiting on an idle interface.
            .setnonblock()
            .map_err(err)?;
        cap.filter(&cfg.filter, true).map_err(err)?;
        let link = LinkType::from_pcap(cap.get_datalink().0);
        Ok(Self {
            cap,
            name: format!("iface:{iface}"),
            link,
        })
    }

    /// Kernel counters.
    pub fn kernel_stats(&mut self) -> KernelStats {
        self.cap
            .stats()
            .map_or(KernelStats::default(), |s| KernelStats {
                received: u64::from(s.received),
                dropped: u64::from(s.dropped),
                if_dropped: u64::from(s.if_dropped),
            })
    }
}

impl PacketSource for LiveSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => Ok(Some(RawPacket {
                ts_us: timeval_us(p.header.ts.tv_sec, p.header.ts.tv_usec),
                link: self.link,
                data: p.data,
            })),
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing waiting: a short nap keeps an idle capture cheap.
                std::thread::sleep(std::time::Duration::from_millis(1));
                Ok(None)
            }
            Err(e) => Err(CaptureError::Interface {
                iface: self.name.clone(),
                reason: e.to_string(),
            }),
        }
    }
}
