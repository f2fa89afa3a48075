//! Presentation form (RFC 4034, RFC 5155) of DNSSEC record data, read from
//! the wire bytes of the rdata: DS, CDS, RRSIG, NSEC, DNSKEY, CDNSKEY,
//! NSEC3, NSEC3PARAM. Other record types hickory does not know get the
//! RFC 3597 generic form `\# LEN HEX`. Malformed rdata falls back to the
//! generic form too, so nothing is lost.

use std::fmt::Write;

use super::wire::push_label_text;

/// Presentation text of rdata of type `rtype` given as wire bytes.
pub fn rdata_text(rtype: u16, rd: &[u8]) -> String {
    let known = match rtype {
        43 | 59 => ds(rd),
        46 => rrsig(rd),
        47 => nsec(rd),
        48 | 60 => dnskey(rd),
        50 => nsec3(rd),
        51 => nsec3param(rd),
        _ => None,
    };
    known.unwrap_or_else(|| generic(rd))
}

/// RFC 3597 `\# LEN HEX`.
pub fn generic(rd: &[u8]) -> String {
    let mut out = format!("\\# {}", rd.len());
    if !rd.is_empty() {
        out.push(' ');
        out.push_str(&hex(rd));
    }
    out
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64.encode(b)
}

fn u16_at(rd: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*rd.get(i)?, *rd.get(i + 1)?]))
}

fn u32_at(rd: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *rd.get(i)?,
        *rd.get(i + 1)?,
        *rd.get(i + 2)?,
        *rd.get(i + 3)?,
    ]))
}

/// An uncompressed wire name at `pos` (RFC 4034 forbids compression in
/// these records): its text with the trailing dot, and the offset past it.
fn name(rd: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut text = Vec::new();
    loop {
        let len = *rd.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        push_label_text(&mut text, rd.get(pos..pos + len)?);
        text.push(b'.');
        pos += len;
        if text.len() > 1024 {
            return None;
        }
    }
    if text.is_empty() {
        text.push(b'.');
    }
    Some((String::from_utf8(text).ok()?, pos))
}

/// The type bit maps of NSEC/NSEC3 (RFC 4034 4.1.2) as mnemonics.
fn type_bitmap(mut rd: &[u8]) -> Option<String> {
    let mut types = Vec::new();
    while !rd.is_empty() {
        let window = u16::from(*rd.first()?);
        let len = *rd.get(1)? as usize;
        if len == 0 || len > 32 {
            return None;
        }
        let bits = rd.get(2..2 + len)?;
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8u16 {
                if byte & (0x80 >> bit) != 0 {
                    let t = window * 256 + (i as u16) * 8 + bit;
                    types.push(super::type_name(t));
                }
            }
        }
        rd = &rd[2 + len..];
    }
    Some(types.join(" "))
}

/// `YYYYMMDDHHmmSS` of an RRSIG time (seconds, serial-number arithmetic
/// ignored: times are taken as after 1970).
fn sig_time(secs: u32) -> String {
    let us = i64::from(secs) * 1_000_000;
    let t = crate::time::rfc3339(us);
    // rfc3339 gives `YYYY-MM-DDTHH:MM:SS...Z`.
    t.chars().filter(char::is_ascii_digit).take(14).collect()
}

fn ds(rd: &[u8]) -> Option<String> {
    let tag = u16_at(rd, 0)?;
    let alg = rd.get(2)?;
    let dt = rd.get(3)?;
    Some(format!("{tag} {alg} {dt} {}", hex(rd.get(4..)?)))
}

fn dnskey(rd: &[u8]) -> Option<String> {
    let flags = u16_at(rd, 0)?;
    let proto = rd.get(2)?;
    let alg = rd.get(3)?;
    Some(format!("{flags} {proto} {alg} {}", b64(rd.get(4..)?)))
}

fn rrsig(rd: &[u8]) -> Option<String> {
    let covered = super::type_name(u16_at(rd, 0)?);
    let alg = rd.get(2)?;
    let labels = rd.get(3)?;
    let ttl = u32_at(rd, 4)?;
    let exp = sig_time(u32_at(rd, 8)?);
    let inc = sig_time(u32_at(rd, 12)?);
    let tag = u16_at(rd, 16)?;
    let (signer, end) = name(rd, 18)?;
    Some(format!(
        "{covered} {alg} {labels} {ttl} {exp} {inc} {tag} {signer} {}",
        b64(rd.get(end..)?)
    ))
}

fn nsec(rd: &[u8]) -> Option<String> {
    let (next, end) = name(rd, 0)?;
    let types = type_bitmap(rd.get(end..)?)?;
    Some(if types.is_empty() {
        next
    } else {
        format!("{next} {types}")
    })
}

fn salt(rd: &[u8], at: usize) -> Option<(String, usize)> {
    let len = *rd.get(at)? as usize;
    let s = rd.get(at + 1..at + 1 + len)?;
    let text = if s.is_empty() { "-".into() } else { hex(s) };
    Some((text, at + 1 + len))
}

fn nsec3param(rd: &[u8]) -> Option<String> {
    let alg = rd.first()?;
    let flags = rd.get(1)?;
    let iter = u16_at(rd, 2)?;
    let (salt, end) = salt(rd, 4)?;
    (end == rd.len()).then(|| format!("{alg} {flags} {iter} {salt}"))
}

fn nsec3(rd: &[u8]) -> Option<String> {
    let alg = rd.first()?;
    let flags = rd.get(1)?;
    let iter = u16_at(rd, 2)?;
    let (salt, end) = salt(rd, 4)?;
    let hlen = *rd.get(end)? as usize;
    let hash = rd.get(end + 1..end + 1 + hlen)?;
    let next = data_encoding::BASE32_DNSSEC
        .encode(hash)
        .to_ascii_uppercase();
    let types = type_bitmap(rd.get(end + 1 + hlen..)?)?;
    let mut out = format!("{alg} {flags} {iter} {salt} {next}");
    if !types.is_empty() {
        out.push(' ');
        out.push_str(&types);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds_and_dnskey() {
        // RFC 4034 5.4 example DS: 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
        let mut rd = vec![0xec, 0x45, 5, 1];
        rd.extend_from_slice(&[
            0x2b, 0xb1, 0x83, 0xaf, 0x5f, 0x22, 0x58, 0x81, 0x79, 0xa5, 0x3b, 0x0a, 0x98, 0x63,
            0x1f, 0xad, 0x1a, 0x29, 0x21, 0x18,
        ]);
        assert_eq!(
            rdata_text(43, &rd),
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"
        );
        let key = [1, 0, 3, 8, 0x03, 0x01, 0x00, 0x01];
        assert_eq!(rdata_text(48, &key), "256 3 8 AwEAAQ==");
    }

    #[test]
    fn rrsig_nsec_nsec3() {
        let mut rd = vec![0, 1, 8, 2, 0, 0, 0x0e, 0x10];
        rd.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        rd.extend_from_slice(&1_690_000_000u32.to_be_bytes());
        rd.extend_from_slice(&[0x12, 0x34]);
        rd.extend_from_slice(b"\x07example\x00");
        rd.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            rdata_text(46, &rd),
            "A 8 2 3600 20231114221320 20230722042640 4660 example. 3q2+7w=="
        );
        // NSEC: next name host.example., types A MX RRSIG NSEC TYPE1234 (RFC 4034 4.3).
        let mut rd = b"\x04host\x07example\x00".to_vec();
        rd.extend_from_slice(&[0, 6, 0x40, 0x01, 0, 0, 0, 0x03]);
        rd.extend_from_slice(&[
            4, 0x1b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x20,
        ]);
        assert_eq!(
            rdata_text(47, &rd),
            "host.example. A MX RRSIG NSEC TYPE1234"
        );
        // NSEC3: SHA-1, opt-out, 12 iterations, salt AABBCCDD.
        let mut rd = vec![1, 1, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd, 5, 0, 0, 0, 0, 0];
        rd.extend_from_slice(&[0, 1, 0x40]);
        assert_eq!(rdata_text(50, &rd), "1 1 12 AABBCCDD 00000000 A");
        assert_eq!(rdata_text(51, &[1, 0, 0, 0, 0]), "1 0 0 -");
    }

    #[test]
    fn malformed_and_unknown_fall_back_to_generic() {
        assert_eq!(rdata_text(46, &[0, 1, 8]), "\\# 3 000108");
        assert_eq!(rdata_text(65280, &[]), "\\# 0");
        assert_eq!(rdata_text(65280, &[0xab, 1]), "\\# 2 AB01");
    }
}
