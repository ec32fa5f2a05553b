//! Binding a card's signature to one portal origin and one challenge (DESIGN 4.2), the same
//! construction as Web eID: the card signs SHA-256(SHA-256(origin) || SHA-256(nonce)).

use sha2::{Digest, Sha256};

/// Challenge nonces carry at least 256 bits.
pub const MIN_NONCE_BYTES: usize = 32;
/// A challenge must be answered within this time.
pub const CHALLENGE_LIFETIME_SECONDS: i64 = 5 * 60;

/// The 32 bytes the card signs for `origin` and `nonce` (both as transmitted, UTF-8).
pub fn proof_digest(origin: &str, nonce: &str) -> [u8; 32] {
    let mut outer = Sha256::new();
    outer.update(Sha256::digest(origin.as_bytes()));
    outer.update(Sha256::digest(nonce.as_bytes()));
    outer.finalize().into()
}

/// Why a string is not a web origin the host or the portal will bind a proof to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginRejection {
    #[error("the origin must start with https:// (http:// only for localhost)")]
    Scheme,
    #[error("the origin must be scheme, host and optional port, with no path, query or user")]
    Shape,
}

/// Checks that `origin` is a serialised web origin: `https://host[:port]`, or `http://` on a
/// loopback host for development and tests. Returns it lower-cased.
pub fn check_origin(origin: &str) -> Result<String, OriginRejection> {
    let lower = origin.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or(OriginRejection::Scheme)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(OriginRejection::Shape);
    }
    // Split host and port; an IPv6 host is bracketed and contains colons itself.
    let (host, port) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (address, tail) = inner.split_once(']').ok_or(OriginRejection::Shape)?;
            let port = match tail {
                "" => None,
                _ => Some(tail.strip_prefix(':').ok_or(OriginRejection::Shape)?),
            };
            (&rest[..address.len() + 2], port)
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    if host.is_empty() || !port_ok {
        return Err(OriginRejection::Shape);
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => Ok(lower),
        "http" if loopback => Ok(lower),
        _ => Err(OriginRejection::Scheme),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_binds_origin_and_nonce() {
        let a = proof_digest("https://portal.example", "n1");
        assert_ne!(a, proof_digest("https://evil.example", "n1"));
        assert_ne!(a, proof_digest("https://portal.example", "n2"));
        // Concatenating hashes, not strings, so shifting a character between the two differs.
        assert_ne!(proof_digest("ab", "c"), proof_digest("a", "bc"));
    }

    #[test]
    fn digest_matches_its_definition() {
        let mut inner = Vec::new();
        inner.extend_from_slice(&Sha256::digest(b"https://portal.example"));
        inner.extend_from_slice(&Sha256::digest(b"nonce"));
        let expected: [u8; 32] = Sha256::digest(&inner).into();
        assert_eq!(proof_digest("https://portal.example", "nonce"), expected);
    }

    #[test]
    fn origins_are_checked() {
        assert_eq!(
            check_origin("https://Portal.Example"),
            Ok("https://portal.example".into())
        );
        assert!(check_origin("https://portal.example:8443").is_ok());
        assert!(check_origin("http://127.0.0.1:8080").is_ok());
        assert!(check_origin("http://localhost:8080").is_ok());
        assert!(check_origin("http://[::1]:8080").is_ok());
        assert_eq!(
            check_origin("http://portal.example"),
            Err(OriginRejection::Scheme)
        );
        assert_eq!(check_origin("portal.example"), Err(OriginRejection::Scheme));
        assert_eq!(
            check_origin("https://portal.example/"),
            Err(OriginRejection::Shape)
        );
        assert_eq!(
            check_origin("https://u@portal.example"),
            Err(OriginRejection::Shape)
        );
        assert_eq!(
            check_origin("https://portal.example:x"),
            Err(OriginRejection::Shape)
        );
        assert_eq!(check_origin("https://"), Err(OriginRejection::Shape));
    }
}
