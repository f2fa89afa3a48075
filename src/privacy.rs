//! Privacy: keyed, prefix-preserving pseudonymisation of querier addresses
//! (Crypto-PAn, Xu, Fan, Ammar and Moon, 2002) before anything is stored.
//!
//! Two addresses that share a k-bit prefix map to pseudonyms that share a
//! k-bit prefix, so per-network analysis (both resolvers of one bank sit in
//! one /16) survives while the addresses themselves are not stored. The
//! mapping is deterministic for a key, so first-seen state, summaries and
//! detectors keep working across restarts. Without the key the mapping can
//! be inverted only by brute force over candidate addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;

/// A Crypto-PAn instance.
#[derive(Clone)]
pub struct CryptoPan {
    cipher: Aes128,
    pad: [u8; 16],
}

impl std::fmt::Debug for CryptoPan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CryptoPan(..)")
    }
}

/// Largest key file read: a key is 64 hex digits (or 32 bytes) and a few
/// comments or newlines, never more.
pub const MAX_KEY_FILE: u64 = 4096;

/// Prefix of a `key_file` that names a systemd credential
/// (`LoadCredential=NAME:/path` in the unit).
pub const CREDENTIAL_PREFIX: &str = "credential:";

/// Why the pseudonymisation key could not be had; every variant names
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `credential:` followed by nothing or by a path.
    #[error("{}: not a credential name", path.display())]
    NotCredential {
        /// The configured `key_file`.
        path: PathBuf,
    },
    /// `credential:NAME` outside a unit that provides credentials.
    #[error("{}: CREDENTIALS_DIRECTORY is not set (LoadCredential={name}:... in the unit provides it)", path.display())]
    NoCredentials {
        /// The configured `key_file`.
        path: PathBuf,
        /// The credential's name.
        name: String,
    },
    /// The file could not be read.
    #[error("{}: cannot read key: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a regular file, or too large to be a key.
    #[error("{}: a key file must be a regular file of at most {MAX_KEY_FILE} bytes", path.display())]
    NotKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// Neither 64 hex digits nor 32 bytes.
    #[error("{}: the key must be 64 hex digits or 32 bytes", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

/// Where the key is: `credential:NAME` is `$CREDENTIALS_DIRECTORY/NAME`
/// (systemd's `LoadCredential=`), anything else the path itself.
pub fn key_path(path: &Path) -> Result<PathBuf, KeyError> {
    match path
        .to_str()
        .and_then(|p| p.strip_prefix(CREDENTIAL_PREFIX))
    {
        Some(name) => {
            if name.is_empty() || name.contains('/') {
                return Err(KeyError::NotCredential {
                    path: path.to_path_buf(),
                });
            }
            match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => Ok(Path::new(&dir).join(name)),
                None => Err(KeyError::NoCredentials {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                }),
            }
        }
        None => Ok(path.to_path_buf()),
    }
}

/// Reads a key file: a regular file of at most [`MAX_KEY_FILE`] bytes
/// (never a device or FIFO, which could block or never end).
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    use std::io::Read;
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let not_key = || KeyError::NotKeyFile {
        path: path.to_path_buf(),
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(not_key());
    }
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut raw))
        .map_err(read)?;
    if raw.len() as u64 > MAX_KEY_FILE {
        return Err(not_key());
    }
    Ok(raw)
}

impl CryptoPan {
    /// From a 32-byte key: AES key, then the pad secret.
    pub fn new(key: &[u8; 32]) -> Self {
        let mut k = [0u8; 16];
        k.copy_from_slice(&key[..16]);
        let cipher = Aes128::new(&k.into());
        let mut pad = [0u8; 16];
        pad.copy_from_slice(&key[16..]);
        let mut block = pad.into();
        cipher.encrypt_block(&mut block);
        Self {
            cipher,
            pad: block.into(),
        }
    }

    /// Reads a key file: 64 hex digits (whitespace ignored) or 32 raw bytes.
    pub fn from_key_file(path: &Path) -> Result<Self, KeyError> {
        let raw = read_key_file(&key_path(path)?)?;
        let text: String = String::from_utf8_lossy(&raw).split_whitespace().collect();
        let mut key = [0u8; 32];
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, k) in key.iter_mut().enumerate() {
                *k = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| {
                    KeyError::Malformed {
                        path: path.to_path_buf(),
                    }
                })?;
            }
        } else if raw.len() == 32 {
            key.copy_from_slice(&raw);
        } else {
            return Err(KeyError::Malformed {
                path: path.to_path_buf(),
            });
        }
        Ok(Self::new(&key))
    }

    /// Anonymises `bits` leading bits of `addr` (the address in the high bits of a u128).
    fn anonymise_bits(&self, addr: u128, bits: u32) -> u128 {
        let pad = u128::from_be_bytes(self.pad);
        let mut otp: u128 = 0;
        for i in 0..bits {
            // First i bits of the address, the rest from the pad.
            let keep = if i == 0 { 0 } else { u128::MAX << (128 - i) };
            let input = (addr & keep) | (pad & !keep);
            let mut block = input.to_be_bytes().into();
            self.cipher.encrypt_block(&mut block);
            let out: [u8; 16] = block.into();
            let bit = u128::from(out[0] >> 7);
            otp |= bit << (127 - i);
        }
        addr ^ otp
    }

    /// The pseudonym of an address (same family).
    pub fn anonymise(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let v = u128::from(u32::from(a)) << 96;
                let out = self.anonymise_bits(v, 32);
                IpAddr::V4(Ipv4Addr::from((out >> 96) as u32))
            }
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(self.anonymise_bits(u128::from(a), 128))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and the first addresses of the sample trace shipped with the
    /// Crypto-PAn 1.0 reference implementation (sample_trace_raw.dat and
    /// sample_trace_sanitized.dat).
    const KEY: [u8; 32] = [
        21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131,
        121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
    ];

    #[test]
    fn reference_vectors() {
        let c = CryptoPan::new(&KEY);
        for (raw, anon) in [
            ("128.11.68.132", "135.242.180.132"),
            ("129.118.74.4", "134.136.186.123"),
            ("130.132.252.244", "133.68.164.234"),
            ("141.223.7.43", "141.167.8.160"),
            ("141.233.145.108", "141.129.237.235"),
            ("152.163.225.39", "151.140.114.167"),
            ("156.29.3.236", "147.225.12.42"),
            ("165.247.96.84", "162.9.99.234"),
            ("166.107.77.190", "160.132.178.185"),
            ("192.102.249.13", "252.138.62.131"),
        ] {
            assert_eq!(
                c.anonymise(raw.parse().unwrap()),
                anon.parse::<IpAddr>().unwrap(),
                "{raw}"
            );
        }
    }

    #[test]
    fn prefix_preserving_and_keyed() {
        let c = CryptoPan::new(&KEY);
        let a = c.anonymise("217.12.96.15".parse().unwrap());
        let b = c.anonymise("217.12.97.15".parse().unwrap());
        let (IpAddr::V4(a), IpAddr::V4(b)) = (a, b) else {
            panic!()
        };
        // 217.12.96.0/23 shared: the first 23 bits agree, the 24th differs.
        let x = u32::from(a) ^ u32::from(b);
        assert_eq!(x.leading_zeros(), 23);
        let other = CryptoPan::new(&[7u8; 32]);
        assert_ne!(
            other.anonymise("217.12.96.15".parse().unwrap()),
            IpAddr::V4(a)
        );
        let v6 = c.anonymise("2001:db8::1".parse().unwrap());
        assert!(v6.is_ipv6());
        assert_ne!(v6, "2001:db8::1".parse::<IpAddr>().unwrap());
    }
}
