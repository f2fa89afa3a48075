//! DNS messages: the pre-parse ([`wire`]), the full decode ([`parse`], the only
//! place that touches `hickory-proto`) and query/response pairing
//! ([`pairing`]).
//!
//! Input: the payload of one DNS message (a UDP datagram, or one length-
//! prefixed message of a TCP stream). Output: the project's own owned types
//! below, which the rest of the pipeline uses.

pub mod dnssec;
mod fast;
pub mod pairing;
pub mod parse;
pub mod wire;

/// Header flags kept per lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub u16);

impl Flags {
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Authentic data.
    pub const AD: u16 = 0x0020;
    /// Checking disabled.
    pub const CD: u16 = 0x0010;

    /// Space-separated mnemonics in a fixed order, e.g. `rd ra`.
    pub fn mnemonics(self) -> String {
        // At most six of two letters and five spaces: one allocation.
        let mut out = String::with_capacity(17);
        for (bit, name) in [
            (Self::AA, "aa"),
            (Self::TC, "tc"),
            (Self::RD, "rd"),
            (Self::RA, "ra"),
            (Self::AD, "ad"),
            (Self::CD, "cd"),
        ] {
            if self.0 & bit != 0 {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(name);
            }
        }
        out
    }
}

pub use crate::model::Answer;

/// A fully decoded DNS message, in our own types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Transaction id.
    pub id: u16,
    /// QR bit.
    pub response: bool,
    /// Opcode.
    pub opcode: u8,
    /// AA/TC/RD/RA/AD/CD.
    pub flags: Flags,
    /// Response code including the EDNS extended bits.
    pub rcode: u16,
    /// First question name (`None` when the message has no question).
    pub qname: Option<String>,
    /// First question type.
    pub qtype: u16,
    /// First question class.
    pub qclass: u16,
    /// Answer section.
    pub answers: Vec<Answer>,
    /// Authority section.
    pub authority: Vec<Answer>,
    /// EDNS client subnet option (`address/source-prefix`), if present.
    pub ecs: Option<String>,
    /// Owner of the first SOA or NS record of the authority section: the
    /// zone the answering server spoke for (empty when there is none).
    pub bailiwick: String,
    /// The OPT record, if present.
    pub edns: Option<crate::model::Edns>,
    /// Header section counts.
    pub counts: crate::model::Counts,
    /// Message size in bytes.
    pub size: u32,
    /// False when some record after the question could not be decoded; what
    /// came before it is kept.
    pub complete: bool,
}

/// Type mnemonic of a QTYPE/TYPE value (RFC 3597 `TYPEnnn` when unknown).
pub fn type_name(value: u16) -> String {
    parse::type_mnemonic(value)
}

/// Class mnemonic (RFC 3597 `CLASSnnn` when unknown).
pub fn class_name(value: u16) -> String {
    match value {
        1 => "IN".into(),
        3 => "CH".into(),
        4 => "HS".into(),
        254 => "NONE".into(),
        255 => "ANY".into(),
        other => format!("CLASS{other}"),
    }
}

/// Rcode mnemonic (RFC 6895 registry; `RCODEnnn` when unassigned).
pub fn rcode_name(value: u16) -> String {
    let known = match value {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        other => return format!("RCODE{other}"),
    };
    known.into()
}

/// Inverse of [`rcode_name`], for tests and filters.
pub fn rcode_value(name: &str) -> Option<u16> {
    (0..=4095u16).find(|v| rcode_name(*v).eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(28), "AAAA");
        assert_eq!(type_name(65280), "TYPE65280");
        assert_eq!(class_name(1), "IN");
        assert_eq!(class_name(42), "CLASS42");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(15), "RCODE15");
        assert_eq!(rcode_value("nxdomain"), Some(3));
        assert_eq!(
            Flags(Flags::RD | Flags::RA | Flags::AA).mnemonics(),
            "aa rd ra"
        );
    }
}
