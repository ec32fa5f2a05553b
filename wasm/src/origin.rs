//! Web origins, as the host and the portal bind a proof to one: `https://host[:port]`, or
//! `http://` on a loopback host for development and tests.

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
