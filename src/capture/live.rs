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

/// The default BPF filter: DNS on the given ports over UDP and TCP, IP
/// fragments (non-first fragments carry no ports), and every tunnel the
/// decoder opens (IP in IP, GRE, VXLAN, GENEVE, Teredo), so a live capture
/// sees what a replay of a full capture of the same link sees.
pub fn default_filter(ports: &[u16]) -> String {
    use crate::decode::{GENEVE_PORT, TEREDO_PORT, VXLAN_PORT};
    let ports: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    let ports = ports.join(" or ");
    format!(
        "(udp or tcp) and ({ports}) or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44) \
         or ip proto 4 or ip proto 41 or ip proto 47 or ip6 proto 4 or ip6 proto 41 or ip6 proto 47 \
         or udp port {VXLAN_PORT} or udp port {GENEVE_PORT} or udp port {TEREDO_PORT}"
    )
}

/// Compiles `filter` as libpcap would for an Ethernet interface, without
/// opening one (for `check-config`); the error is libpcap's message.
pub fn check_filter(filter: &str) -> Result<(), pcap::Error> {
    Capture::dead(pcap::Linktype::ETHERNET)?.compile(filter, true)?;
    Ok(())
}

/// Whether libpcap knows an interface of this name (`any` included).
pub fn interface_exists(name: &str) -> Result<bool, pcap::Error> {
    if name == "any" {
        return Ok(true);
    }
    let devices = pcap::Device::list()?;
    Ok(devices.iter().any(|d| d.name == name))
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

    /// Replaces the BPF filter of the open capture (SIGHUP).
    pub fn set_filter(&mut self, filter: &str) -> Result<(), CaptureError> {
        self.cap
            .filter(filter, true)
            .map_err(|e| CaptureError::Interface {
                iface: self.name.trim_start_matches("iface:").to_string(),
                reason: format!("cannot set the filter {filter:?}: {e}"),
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

#[cfg(test)]
mod filter_tests {
    use super::*;

    /// Ethernet + IPv4 (protocol `proto`) + payload.
    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let len = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
        f.extend_from_slice(&[
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            0,
            1,
            0,
            0,
            64,
            proto,
            0,
            0,
        ]);
        f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend_from_slice(payload);
        f
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
        let mut u = Vec::new();
        for v in [sport, dport, len, 0] {
            u.extend_from_slice(&v.to_be_bytes());
        }
        u.extend_from_slice(payload);
        u
    }

    #[test]
    fn the_default_filter_compiles_and_passes_every_tunnel_the_decoder_opens() {
        let filter = default_filter(&[53, 5353]);
        assert_eq!(check_filter(&filter), Ok(()));
        let dead = Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        let prog = dead.compile(&filter, true).unwrap();
        let inner = ipv4(17, &udp(40000, 53, &[0u8; 12]));
        let pass = [
            ("dns", ipv4(17, &udp(40000, 53, &[0u8; 12]))),
            ("other port", ipv4(17, &udp(40000, 5353, &[0u8; 12]))),
            ("vxlan", ipv4(17, &udp(40000, 4789, &inner))),
            ("geneve", ipv4(17, &udp(40000, 6081, &inner))),
            ("teredo", ipv4(17, &udp(40000, 3544, &inner))),
            ("gre", ipv4(47, &inner)),
            ("ipip", ipv4(4, &inner[14..])),
        ];
        for (what, frame) in &pass {
            assert!(prog.filter(frame), "{what} not captured by {filter}");
        }
        assert!(
            !prog.filter(&ipv4(17, &udp(40000, 123, &[0u8; 12]))),
            "NTP captured"
        );
    }

    #[test]
    fn a_bad_filter_is_reported_with_libpcaps_reason() {
        let e = check_filter("udp and and").unwrap_err();
        assert!(e.to_string().contains("syntax error"), "{e}");
    }
}
