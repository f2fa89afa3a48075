//! The dnstap protobuf schema (dnstap.proto, proto2), written by hand with
//! `prost` derive macros: no protoc and no build script, so the build needs
//! nothing beyond crates. Fields dnswatch does not use (policy, HTTP
//! protocol) are left out; prost skips unknown fields when decoding.
//!
//! Byte fields are `bytes::Bytes`: decoding from a `Bytes` frame slices
//! it without copying the DNS messages.

use bytes::Bytes;

/// `Dnstap`: the envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dnstap {
    /// Name of the server that sent it.
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub identity: Option<Bytes>,
    /// Software version of the server.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub version: Option<Bytes>,
    /// Free-form extra data.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub extra: Option<Bytes>,
    /// The message (when `type` is MESSAGE).
    #[prost(message, optional, tag = "14")]
    pub message: Option<Message>,
    /// Envelope type: 1 = MESSAGE, the only one defined.
    #[prost(enumeration = "DnstapType", optional, tag = "15")]
    pub r#type: Option<i32>,
}

/// `Dnstap.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DnstapType {
    /// A `Message`.
    Message = 1,
}

/// `SocketFamily`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SocketFamily {
    /// IPv4.
    Inet = 1,
    /// IPv6.
    Inet6 = 2,
}

/// `SocketProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SocketProtocol {
    /// Plain UDP.
    Udp = 1,
    /// Plain TCP.
    Tcp = 2,
    /// DNS over TLS.
    Dot = 3,
    /// DNS over HTTPS.
    Doh = 4,
    /// DNSCrypt over UDP.
    DnsCryptUdp = 5,
    /// DNSCrypt over TCP.
    DnsCryptTcp = 6,
    /// DNS over QUIC.
    Doq = 7,
}

/// `Message.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MessageType {
    /// An authoritative server received a query.
    AuthQuery = 1,
    /// An authoritative server sent a response.
    AuthResponse = 2,
    /// A resolver sent a query upstream.
    ResolverQuery = 3,
    /// A resolver received a response from upstream.
    ResolverResponse = 4,
    /// A server received a query from a client.
    ClientQuery = 5,
    /// A server sent a response to a client.
    ClientResponse = 6,
    /// A forwarder sent a query upstream.
    ForwarderQuery = 7,
    /// A forwarder received a response.
    ForwarderResponse = 8,
    /// A stub resolver sent a query.
    StubQuery = 9,
    /// A stub resolver received a response.
    StubResponse = 10,
    /// A tool sent a query.
    ToolQuery = 11,
    /// A tool received a response.
    ToolResponse = 12,
    /// A server received an UPDATE.
    UpdateQuery = 13,
    /// A server answered an UPDATE.
    UpdateResponse = 14,
}

impl MessageType {
    /// Number of types (index 0 of counters is "unknown").
    pub const COUNT: usize = 15;

    /// Upper-case name as in dnstap.proto.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthQuery => "AUTH_QUERY",
            Self::AuthResponse => "AUTH_RESPONSE",
            Self::ResolverQuery => "RESOLVER_QUERY",
            Self::ResolverResponse => "RESOLVER_RESPONSE",
            Self::ClientQuery => "CLIENT_QUERY",
            Self::ClientResponse => "CLIENT_RESPONSE",
            Self::ForwarderQuery => "FORWARDER_QUERY",
            Self::ForwarderResponse => "FORWARDER_RESPONSE",
            Self::StubQuery => "STUB_QUERY",
            Self::StubResponse => "STUB_RESPONSE",
            Self::ToolQuery => "TOOL_QUERY",
            Self::ToolResponse => "TOOL_RESPONSE",
            Self::UpdateQuery => "UPDATE_QUERY",
            Self::UpdateResponse => "UPDATE_RESPONSE",
        }
    }

    /// Counter label of type number `i` (0 or out of range: `unknown`).
    pub fn label(i: usize) -> &'static str {
        i32::try_from(i)
            .ok()
            .and_then(|v| Self::try_from(v).ok())
            .map_or("unknown", Self::name)
    }
}

/// `Message`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// Message type.
    #[prost(enumeration = "MessageType", optional, tag = "1")]
    pub r#type: Option<i32>,
    /// Address family of the addresses.
    #[prost(enumeration = "SocketFamily", optional, tag = "2")]
    pub socket_family: Option<i32>,
    /// Transport.
    #[prost(enumeration = "SocketProtocol", optional, tag = "3")]
    pub socket_protocol: Option<i32>,
    /// The querier's address (4 or 16 bytes).
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub query_address: Option<Bytes>,
    /// The responder's address.
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub response_address: Option<Bytes>,
    /// The querier's port.
    #[prost(uint32, optional, tag = "6")]
    pub query_port: Option<u32>,
    /// The responder's port.
    #[prost(uint32, optional, tag = "7")]
    pub response_port: Option<u32>,
    /// When the query was sent or received (seconds).
    #[prost(uint64, optional, tag = "8")]
    pub query_time_sec: Option<u64>,
    /// Nanoseconds of `query_time_sec`.
    #[prost(fixed32, optional, tag = "9")]
    pub query_time_nsec: Option<u32>,
    /// The query, wire format.
    #[prost(bytes = "bytes", optional, tag = "10")]
    pub query_message: Option<Bytes>,
    /// The zone of the query (resolver and forwarder messages).
    #[prost(bytes = "bytes", optional, tag = "11")]
    pub query_zone: Option<Bytes>,
    /// When the response was sent or received (seconds).
    #[prost(uint64, optional, tag = "12")]
    pub response_time_sec: Option<u64>,
    /// Nanoseconds of `response_time_sec`.
    #[prost(fixed32, optional, tag = "13")]
    pub response_time_nsec: Option<u32>,
    /// The response, wire format.
    #[prost(bytes = "bytes", optional, tag = "14")]
    pub response_message: Option<Bytes>,
}
