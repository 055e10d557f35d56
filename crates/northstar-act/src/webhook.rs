//! Webhook delivery helpers: the signature header, retry delays, URL checks.
//!
//! A webhook is an HTTP POST of [`crate::Action::body`] with the header
//! `X-Northstar-Signature: sha256=<lowercase hex HMAC-SHA256 of the raw body>`, keyed with the
//! secret read (by the caller) from the environment variable the trigger names.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Northstar-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (RFC 2104 hashes long keys and pads short ones), so this
    // cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// The signature header value of `body`: `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
///
/// ```
/// // RFC 4231, test case 2.
/// assert_eq!(
///     northstar_act::sign(b"Jefe", b"what do ya want for nothing?"),
///     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
/// );
/// ```
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a signature header value against `body`, comparing in constant time. Accepts the
/// exact form [`sign`] produces (hex digits in either case); anything else is `false`.
///
/// ```
/// let header = northstar_act::sign(b"s3cret", b"{}");
/// assert!(northstar_act::verify(b"s3cret", b"{}", &header));
/// assert!(!northstar_act::verify(b"other", b"{}", &header));
/// ```
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_part) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_part) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&tag).is_ok()
}

/// The delay before retry number `attempt` (1 = the retry after the first failure), in
/// milliseconds: exponential with "equal jitter".
///
/// `exp = min(cap_ms, base_ms × 2^(attempt−1))`; the delay is `ceil(exp/2) + floor(jitter_unit ×
/// floor(exp/2))`, so it lies in `[exp/2, exp]`: it always grows with the attempt up to the cap
/// (unlike "full jitter", which can retry at once) while spreading retries of many actions.
/// `jitter_unit` is a uniform draw in `[0, 1]` from the caller's RNG (clamped; NaN counts as 0).
/// `attempt` 0 is treated as 1. Never overflows.
///
/// ```
/// use northstar_act::backoff_delay_ms;
/// assert_eq!(backoff_delay_ms(1, 1000, 60_000, 0.0), 500);
/// assert_eq!(backoff_delay_ms(3, 1000, 60_000, 0.5), 3000); // exp 4000: 2000 + 0.5 * 2000
/// assert_eq!(backoff_delay_ms(50, 1000, 60_000, 1.0), 60_000); // capped
/// ```
pub fn backoff_delay_ms(attempt: u32, base_ms: u64, cap_ms: u64, jitter_unit: f64) -> u64 {
    let shift = attempt.max(1) - 1;
    let factor = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
    let exp = base_ms.saturating_mul(factor).min(cap_ms);
    let j = if jitter_unit.is_nan() {
        0.0
    } else {
        jitter_unit.clamp(0.0, 1.0)
    };
    let half = exp / 2;
    let lo = exp - half;
    lo + ((j * half as f64).floor() as u64).min(half)
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("got {0:?}, expected an http:// or https:// URL")]
    Scheme(String),
    /// No host after the scheme.
    #[error("got {0:?}, expected a host after the scheme (http://host[:port]/path)")]
    NoHost(String),
    /// `user:password@` in the URL (it would leak into logs; use the signing secret instead).
    #[error("has user credentials before the host; expected none (they would appear in logs; the signature authenticates northstar)")]
    Credentials,
    /// A port that is not a number from 1 to 65535.
    #[error("has port {port:?}, expected a number from 1 to 65535")]
    Port {
        /// The bad port text.
        port: String,
    },
    /// Whitespace or a control character.
    #[error("got {0:?}, which contains whitespace or a control character")]
    Whitespace(String),
    /// A host with characters a host name cannot have.
    #[error("has host {host:?}, expected a host name or an IP address")]
    Host {
        /// The bad host text.
        host: String,
    },
}

/// Checks a webhook URL: `http://` or `https://` (any case), a host (a name, an IPv4 address
/// or a bracketed IPv6 address), an optional port from 1 to 65535, no `user:password@`, no
/// whitespace.
///
/// ```
/// use northstar_act::validate_webhook_url;
/// assert!(validate_webhook_url("http://127.0.0.1:9000/hooks/upsell").is_ok());
/// assert!(validate_webhook_url("https://[::1]/x?y=1").is_ok());
/// assert!(validate_webhook_url("ftp://example.com/").is_err());
/// assert!(validate_webhook_url("https:///path").is_err());
/// ```
pub fn validate_webhook_url(url: &str) -> Result<(), UrlError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Whitespace(url.to_string()));
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return Err(UrlError::Scheme(url.to_string()));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(UrlError::Host {
                host: authority.to_string(),
            });
        };
        let host = &inner[..close];
        let after = &inner[close + 1..];
        if !host
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            || host.is_empty()
        {
            return Err(UrlError::Host {
                host: host.to_string(),
            });
        }
        match after {
            "" => (host, None),
            p if p.starts_with(':') => (host, Some(&p[1..])),
            _ => {
                return Err(UrlError::Host {
                    host: authority.to_string(),
                })
            }
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost(url.to_string()));
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(UrlError::Host {
            host: host.to_string(),
        });
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            return Err(UrlError::Port {
                port: p.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_rfc_4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_the_right_signature_and_rejects_tampering() {
        let body = br#"{"idempotency_key":"t:c:2024-03-31"}"#;
        let header = sign(b"k", body);
        assert!(verify(b"k", body, &header));
        assert!(verify(
            b"k",
            body,
            &header.to_uppercase().replacen("SHA256=", "sha256=", 1)
        ));
        assert!(!verify(b"k", b"{}", &header));
        assert!(!verify(b"k2", body, &header));
        assert!(!verify(b"k", body, header.trim_start_matches("sha256=")));
        assert!(!verify(b"k", body, "sha256=zz"));
        assert!(!verify(b"k", body, &header[..header.len() - 2])); // truncated tag
    }

    #[test]
    fn backoff_doubles_from_base_with_equal_jitter_and_caps() {
        // exp = 1000 * 2^(attempt-1); delay in [exp/2, exp].
        assert_eq!(backoff_delay_ms(1, 1000, 60_000, 0.0), 500);
        assert_eq!(backoff_delay_ms(1, 1000, 60_000, 1.0), 1000);
        assert_eq!(backoff_delay_ms(2, 1000, 60_000, 0.0), 1000);
        assert_eq!(backoff_delay_ms(2, 1000, 60_000, 0.25), 1250); // 1000 + 0.25 * 1000
        assert_eq!(backoff_delay_ms(6, 1000, 60_000, 1.0), 32_000);
        assert_eq!(backoff_delay_ms(7, 1000, 60_000, 0.0), 30_000); // 64000 capped to 60000
        assert_eq!(backoff_delay_ms(0, 1000, 60_000, 0.0), 500); // attempt 0 treated as 1
        assert_eq!(
            backoff_delay_ms(u32::MAX, u64::MAX, u64::MAX, 1.0),
            u64::MAX
        );
        assert_eq!(backoff_delay_ms(3, 1000, 60_000, f64::NAN), 2000);
        assert_eq!(backoff_delay_ms(3, 1000, 60_000, 7.0), 4000); // clamped to 1
        assert_eq!(backoff_delay_ms(3, 0, 60_000, 0.5), 0);
        // odd exp: ceil half + floor(j * floor half): exp 3 -> [2, 3]
        assert_eq!(backoff_delay_ms(1, 3, 60_000, 0.0), 2);
        assert_eq!(backoff_delay_ms(1, 3, 60_000, 1.0), 3);
    }

    #[test]
    fn webhook_urls_must_be_http_with_a_host() {
        for ok in [
            "http://127.0.0.1:9000/hooks/upsell",
            "https://hooks.example.com",
            "HTTPS://Example.com:443/a?b=c#d",
            "http://[::1]:8080/",
            "http://localhost",
        ] {
            assert_eq!(validate_webhook_url(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_webhook_url("ftp://x/"),
            Err(UrlError::Scheme("ftp://x/".into()))
        );
        assert_eq!(
            validate_webhook_url("example.com/hook"),
            Err(UrlError::Scheme("example.com/hook".into()))
        );
        assert_eq!(
            validate_webhook_url("http:///x"),
            Err(UrlError::NoHost("http:///x".into()))
        );
        assert_eq!(
            validate_webhook_url("http://u:p@host/"),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            validate_webhook_url("http://host:0/"),
            Err(UrlError::Port { port: "0".into() })
        );
        assert_eq!(
            validate_webhook_url("http://host:99999/"),
            Err(UrlError::Port {
                port: "99999".into()
            })
        );
        assert_eq!(
            validate_webhook_url("http://host:/"),
            Err(UrlError::Port { port: "".into() })
        );
        assert!(matches!(
            validate_webhook_url("http://ho st/"),
            Err(UrlError::Whitespace(_))
        ));
        assert!(matches!(
            validate_webhook_url("http://a,b/"),
            Err(UrlError::Host { .. })
        ));
        assert!(matches!(
            validate_webhook_url("http://[zz]/"),
            Err(UrlError::Host { .. })
        ));
    }

    #[test]
    fn credential_error_does_not_echo_the_password() {
        let msg = validate_webhook_url("https://bob:hunter2@example.com/")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
