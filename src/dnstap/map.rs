//! dnstap `Message` → DNS messages with endpoints, as the pipeline takes
//! them from decoded packets.
//!
//! Direction: dnstap names the two ends by role, not by sender:
//! `query_address`/`query_port` is always the side that asked and
//! `response_address`/`response_port` the side that answered. A query
//! message goes query side → response side at `query_time`; a response
//! message the other way at `response_time`. A dnstap message that carries
//! both gives two DNS messages, the query first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use prost::Message as _;
use thiserror::Error;

use super::proto::{Dnstap, DnstapType, Message, MessageType, SocketFamily, SocketProtocol};
use crate::decode::Transport;

/// Why a dnstap payload gives no DNS message.
#[derive(Debug, Error)]
pub enum MapError {
    /// Not a protobuf message.
    #[error("not a dnstap protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A protobuf, but not a dnstap MESSAGE envelope.
    #[error("protobuf is not a dnstap message: {0}")]
    NotDnstap(&'static str),
    /// An address that is neither 4 nor 16 bytes.
    #[error("{0} address of {1} bytes")]
    Address(&'static str, usize),
    /// A port above 65535.
    #[error("{0} port {1} out of range")]
    Port(&'static str, u32),
    /// Neither query nor response message.
    #[error("{0} carries no DNS message")]
    NoPayload(&'static str),
    /// A DNS message without a time.
    #[error("{0} carries no time")]
    NoTime(&'static str),
}

/// The server role a dnstap message type describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// CLIENT_*: a recursive server and its clients.
    Client,
    /// AUTH_*: an authoritative server and its clients.
    Auth,
    /// RESOLVER_*: a resolver and the servers it asks.
    Resolver,
    /// FORWARDER_*.
    Forwarder,
    /// STUB_*.
    Stub,
    /// TOOL_*.
    Tool,
    /// UPDATE_*.
    Update,
}

impl Role {
    /// Lower-case name (`client`, `auth`, `resolver`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Auth => "auth",
            Self::Resolver => "resolver",
            Self::Forwarder => "forwarder",
            Self::Stub => "stub",
            Self::Tool => "tool",
            Self::Update => "update",
        }
    }

    /// Role of a message type.
    pub fn of(t: MessageType) -> Self {
        use MessageType as T;
        match t {
            T::ClientQuery | T::ClientResponse => Self::Client,
            T::AuthQuery | T::AuthResponse => Self::Auth,
            T::ResolverQuery | T::ResolverResponse => Self::Resolver,
            T::ForwarderQuery | T::ForwarderResponse => Self::Forwarder,
            T::StubQuery | T::StubResponse => Self::Stub,
            T::ToolQuery | T::ToolResponse => Self::Tool,
            T::UpdateQuery | T::UpdateResponse => Self::Update,
        }
    }

    /// Whether messages of this role are recorded by default: the client
    /// view of a resolver and of an authoritative server (what sniffing
    /// their client-facing interface would record). The others only with
    /// `capture.dnstap_resolver_messages`.
    pub fn recorded_by_default(self) -> bool {
        matches!(self, Self::Client | Self::Auth)
    }
}

/// One DNS message taken from a dnstap message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped<'a> {
    /// Its time (µs since the epoch): query_time for a query, response_time
    /// for a response.
    pub ts_us: i64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// The DNS message (wire format).
    pub payload: &'a [u8],
    /// Role of the dnstap message type.
    pub role: Role,
}

/// Decodes one data frame as a dnstap envelope holding a message.
pub fn decode(frame: Bytes) -> Result<Dnstap, MapError> {
    let d = Dnstap::decode(frame)?;
    if d.r#type != Some(DnstapType::Message as i32) {
        return Err(MapError::NotDnstap("type is not MESSAGE"));
    }
    if d.message.is_none() {
        return Err(MapError::NotDnstap("no message"));
    }
    Ok(d)
}

/// The message type of a decoded envelope (`None`: missing or unknown).
pub fn message_type(d: &Dnstap) -> Option<MessageType> {
    d.message
        .as_ref()
        .and_then(|m| m.r#type)
        .and_then(|t| MessageType::try_from(t).ok())
}

/// Transport from `socket_protocol` (DNSCrypt counts as its carrier;
/// missing as UDP, the protocol servers leave out most often).
pub fn transport(p: Option<i32>) -> Transport {
    match p.and_then(|p| SocketProtocol::try_from(p).ok()) {
        Some(SocketProtocol::Tcp | SocketProtocol::DnsCryptTcp) => Transport::Tcp,
        Some(SocketProtocol::Dot) => Transport::Dot,
        Some(SocketProtocol::Doh) => Transport::Doh,
        Some(SocketProtocol::Doq) => Transport::Doq,
        Some(SocketProtocol::Udp | SocketProtocol::DnsCryptUdp) | None => Transport::Udp,
    }
}

fn address(
    which: &'static str,
    b: Option<&Bytes>,
    family: Option<i32>,
    other: Option<&Bytes>,
) -> Result<IpAddr, MapError> {
    match b.map(|b| b.as_ref()) {
        Some(b) => {
            if let Ok(a) = <[u8; 4]>::try_from(b) {
                Ok(IpAddr::V4(Ipv4Addr::from(a)))
            } else if let Ok(a) = <[u8; 16]>::try_from(b) {
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            } else {
                Err(MapError::Address(which, b.len()))
            }
        }
        // Missing (some servers leave out their own address): the
        // unspecified address of the family, so both directions agree.
        None => {
            let v6 = family == Some(SocketFamily::Inet6 as i32)
                || (family.is_none() && other.is_some_and(|o| o.len() == 16));
            Ok(if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            })
        }
    }
}

fn port(which: &'static str, p: Option<u32>) -> Result<u16, MapError> {
    u16::try_from(p.unwrap_or(0)).map_err(|_| MapError::Port(which, p.unwrap_or(0)))
}

fn time_us(sec: Option<u64>, nsec: Option<u32>) -> Option<i64> {
    let sec = i64::try_from(sec?).ok()?;
    let us = i64::from(nsec.unwrap_or(0).min(999_999_999) / 1000);
    sec.checked_mul(1_000_000)?.checked_add(us)
}

/// Calls `out` with the DNS messages of `d` whose role is recorded (all of
/// them when `all_roles`), query before response. Returns the message type.
pub fn map<'a>(
    d: &'a Dnstap,
    all_roles: bool,
    out: &mut impl FnMut(Mapped<'a>),
) -> Result<MessageType, MapError> {
    let m: &Message = d
        .message
        .as_ref()
        .ok_or(MapError::NotDnstap("no message"))?;
    let t = m
        .r#type
        .and_then(|t| MessageType::try_from(t).ok())
        .ok_or(MapError::NotDnstap("unknown message type"))?;
    let role = Role::of(t);
    if !(all_roles || role.recorded_by_default()) {
        return Ok(t);
    }
    let name = t.name();
    let q_ip = address(
        "query",
        m.query_address.as_ref(),
        m.socket_family,
        m.response_address.as_ref(),
    )?;
    let r_ip = address(
        "response",
        m.response_address.as_ref(),
        m.socket_family,
        m.query_address.as_ref(),
    )?;
    let querier = SocketAddr::new(q_ip, port("query", m.query_port)?);
    let responder = SocketAddr::new(r_ip, port("response", m.response_port)?);
    let transport = transport(m.socket_protocol);
    let qt = time_us(m.query_time_sec, m.query_time_nsec);
    let rt = time_us(m.response_time_sec, m.response_time_nsec);
    if m.query_message.is_none() && m.response_message.is_none() {
        return Err(MapError::NoPayload(name));
    }
    // Check the times before calling out, so an error yields nothing.
    let q = match &m.query_message {
        Some(p) => Some((qt.or(rt).ok_or(MapError::NoTime(name))?, p)),
        None => None,
    };
    let r = match &m.response_message {
        Some(p) => Some((rt.or(qt).ok_or(MapError::NoTime(name))?, p)),
        None => None,
    };
    if let Some((ts_us, p)) = q {
        out(Mapped {
            ts_us,
            src: querier,
            dst: responder,
            transport,
            payload: p,
            role,
        });
    }
    if let Some((ts_us, p)) = r {
        out(Mapped {
            ts_us,
            src: responder,
            dst: querier,
            transport,
            payload: p,
            role,
        });
    }
    Ok(t)
}

/// Builds a dnstap envelope (tests, the benchmark's generator, fuzz seeds).
#[allow(clippy::too_many_arguments)]
pub fn build(
    identity: &[u8],
    t: MessageType,
    protocol: SocketProtocol,
    querier: SocketAddr,
    responder: SocketAddr,
    query: Option<(i64, &[u8])>,
    response: Option<(i64, &[u8])>,
) -> Vec<u8> {
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v) => Bytes::copy_from_slice(&v.octets()),
        IpAddr::V6(v) => Bytes::copy_from_slice(&v.octets()),
    };
    let split = |us: i64| {
        (
            us.div_euclid(1_000_000) as u64,
            (us.rem_euclid(1_000_000) * 1000) as u32,
        )
    };
    let m = Message {
        r#type: Some(t as i32),
        socket_family: Some(if querier.is_ipv6() {
            SocketFamily::Inet6 as i32
        } else {
            SocketFamily::Inet as i32
        }),
        socket_protocol: Some(protocol as i32),
        query_address: Some(ip(querier)),
        response_address: Some(ip(responder)),
        query_port: Some(u32::from(querier.port())),
        response_port: Some(u32::from(responder.port())),
        query_time_sec: query.map(|q| split(q.0).0),
        query_time_nsec: query.map(|q| split(q.0).1),
        query_message: query.map(|q| Bytes::copy_from_slice(q.1)),
        query_zone: None,
        response_time_sec: response.map(|r| split(r.0).0),
        response_time_nsec: response.map(|r| split(r.0).1),
        response_message: response.map(|r| Bytes::copy_from_slice(r.1)),
    };
    Dnstap {
        identity: Some(Bytes::copy_from_slice(identity)),
        version: Some(Bytes::from_static(b"dnswatch")),
        extra: None,
        message: Some(m),
        r#type: Some(DnstapType::Message as i32),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn collect(d: &Dnstap, all: bool) -> (Result<MessageType, MapError>, Vec<Mapped<'_>>) {
        let mut v = Vec::new();
        let r = map(d, all, &mut |m| v.push(m));
        (r, v)
    }

    #[test]
    fn a_client_response_goes_server_to_client_at_response_time() {
        let f = build(
            b"r1",
            MessageType::ClientResponse,
            SocketProtocol::Dot,
            addr("[2001:db8::1]:40000"),
            addr("[2001:db8::53]:853"),
            None,
            Some((1_700_000_000_123_456, b"resp")),
        );
        let d = decode(Bytes::from(f)).unwrap();
        assert_eq!(d.identity.as_deref(), Some(&b"r1"[..]));
        let (r, v) = collect(&d, false);
        assert_eq!(r.unwrap(), MessageType::ClientResponse);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].ts_us, 1_700_000_000_123_456);
        assert_eq!(v[0].src, addr("[2001:db8::53]:853"));
        assert_eq!(v[0].dst, addr("[2001:db8::1]:40000"));
        assert_eq!(v[0].transport, Transport::Dot);
        assert_eq!(v[0].payload, b"resp");
    }

    #[test]
    fn both_messages_give_query_then_response() {
        let f = build(
            b"r1",
            MessageType::ClientResponse,
            SocketProtocol::DnsCryptTcp,
            addr("192.0.2.1:4000"),
            addr("192.0.2.53:53"),
            Some((10, b"q")),
            Some((20, b"r")),
        );
        let d = decode(Bytes::from(f)).unwrap();
        let (_, v) = collect(&d, false);
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].ts_us, v[0].payload), (10, &b"q"[..]));
        assert_eq!(v[0].src, addr("192.0.2.1:4000"));
        assert_eq!((v[1].ts_us, v[1].payload), (20, &b"r"[..]));
        assert_eq!(v[1].src, addr("192.0.2.53:53"));
        assert_eq!(v[1].transport, Transport::Tcp);
    }

    #[test]
    fn resolver_messages_only_when_asked() {
        let f = build(
            b"r1",
            MessageType::ResolverQuery,
            SocketProtocol::Udp,
            addr("192.0.2.53:3000"),
            addr("198.51.100.1:53"),
            Some((10, b"q")),
            None,
        );
        let d = decode(Bytes::from(f)).unwrap();
        let (r, v) = collect(&d, false);
        assert_eq!(r.unwrap(), MessageType::ResolverQuery);
        assert!(v.is_empty());
        let (_, v) = collect(&d, true);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].role, Role::Resolver);
    }

    #[test]
    fn other_protobuf_and_garbage_are_errors() {
        // A valid protobuf (field 5 varint 150) that is not a dnstap envelope.
        assert!(matches!(
            decode(Bytes::from_static(&[0x28, 0x96, 0x01])),
            Err(MapError::NotDnstap(_))
        ));
        // Field 1 (identity, bytes) sent as a varint: wrong wire type.
        assert!(matches!(
            decode(Bytes::from_static(&[0x08, 0x96, 0x01])),
            Err(MapError::Protobuf(_))
        ));
        // A 5-byte address.
        let mut d = decode(Bytes::from(build(
            b"x",
            MessageType::ClientQuery,
            SocketProtocol::Udp,
            addr("192.0.2.1:1"),
            addr("192.0.2.2:53"),
            Some((1, b"q")),
            None,
        )))
        .unwrap();
        if let Some(m) = d.message.as_mut() {
            m.query_address = Some(Bytes::from_static(b"12345"));
        }
        let (r, v) = collect(&d, false);
        assert!(matches!(r, Err(MapError::Address("query", 5))));
        assert!(v.is_empty());
    }

    #[test]
    fn a_missing_server_address_is_unspecified_in_both_directions() {
        let mut d = decode(Bytes::from(build(
            b"x",
            MessageType::ClientQuery,
            SocketProtocol::Udp,
            addr("[2001:db8::1]:1"),
            addr("[2001:db8::2]:53"),
            Some((1, b"q")),
            None,
        )))
        .unwrap();
        if let Some(m) = d.message.as_mut() {
            m.response_address = None;
            m.socket_family = None;
        }
        let (_, v) = collect(&d, false);
        assert_eq!(v[0].dst, addr("[::]:53"));
    }
}
