//! The self-service email address: it must be on a domain approved for use with the Spine.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// The approved domains named in the staff guides; an organisation may configure its own list.
pub const DEFAULT_APPROVED_DOMAINS: &[&str] = &["nhs.net", "nhs.uk", "gov.uk", "mod.uk"];

const MAX_LOCAL_PART: usize = 64;
const MAX_ADDRESS: usize = 254;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// Which domains are approved. Each entry also approves its subdomains (`x@trust.nhs.uk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailPolicy {
    pub approved_domains: Vec<String>,
}

impl Default for EmailPolicy {
    fn default() -> Self {
        EmailPolicy {
            approved_domains: DEFAULT_APPROVED_DOMAINS
                .iter()
                .map(|d| d.to_string())
                .collect(),
        }
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum EmailRejection {
    #[error("Enter your email address.")]
    Empty,
    #[error("Enter a full email address, like name@nhs.net.")]
    MissingAt,
    #[error("The part before the @ is not valid. Check the address for typing mistakes.")]
    InvalidLocalPart,
    #[error("The part after the @ is not a valid domain. Check the address for typing mistakes.")]
    InvalidDomain,
    #[error("Remove the full stop at the end of the email address.")]
    TrailingDot,
    #[error("The email address is too long.")]
    TooLong,
    #[error("Use an email address from a provider approved for use with the Spine: {}.", .approved.join(", "))]
    DomainNotApproved { approved: Vec<String> },
}

impl EmailPolicy {
    /// Accepts an address on an approved domain and returns it in the form stored and shown
    /// (trimmed, lower case). Comparison is by whole labels, so look-alikes such as
    /// `nhs.net.evil.com` or `evil-nhs.net` are refused.
    pub fn check(&self, input: &str) -> Result<String, EmailRejection> {
        let address = input.trim();
        if address.is_empty() {
            return Err(EmailRejection::Empty);
        }
        if address.len() > MAX_ADDRESS {
            return Err(EmailRejection::TooLong);
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(EmailRejection::MissingAt);
        };
        if !valid_local_part(local) {
            return Err(EmailRejection::InvalidLocalPart);
        }
        let domain = domain.to_ascii_lowercase();
        if domain.ends_with('.') && domain.len() > 1 {
            return Err(EmailRejection::TrailingDot);
        }
        if !valid_domain(&domain) {
            return Err(EmailRejection::InvalidDomain);
        }
        let approved = self.approved_domains.iter().any(|allowed| {
            let allowed = allowed.trim().trim_end_matches('.').to_ascii_lowercase();
            !allowed.is_empty()
                && (domain == allowed
                    || domain
                        .strip_suffix(allowed.as_str())
                        .is_some_and(|head| head.ends_with('.')))
        });
        if !approved {
            return Err(EmailRejection::DomainNotApproved {
                approved: self.approved_domains.clone(),
            });
        }
        Ok(format!("{}@{}", local.to_ascii_lowercase(), domain))
    }
}

/// Dot-atom local part (RFC 5322) in ASCII; quoted local parts are not used by NHS providers.
fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_PART
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

/// ASCII host name: labels of letters, digits and inner hyphens, at least two labels. Unicode
/// domains are refused: no approved provider uses one, and they carry homoglyph look-alikes.
fn valid_domain(domain: &str) -> bool {
    domain.len() <= MAX_DOMAIN
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Result<String, EmailRejection> {
        EmailPolicy::default().check(input)
    }

    fn not_approved() -> EmailRejection {
        EmailRejection::DomainNotApproved {
            approved: EmailPolicy::default().approved_domains,
        }
    }

    #[test]
    fn approved_domains_and_their_subdomains_pass() {
        assert_eq!(check("jane.smith@nhs.net"), Ok("jane.smith@nhs.net".into()));
        assert_eq!(check("a@trust.nhs.uk"), Ok("a@trust.nhs.uk".into()));
        assert_eq!(check("a@x.y.gov.uk"), Ok("a@x.y.gov.uk".into()));
        assert_eq!(check("  a@mod.uk "), Ok("a@mod.uk".into()));
    }

    #[test]
    fn upper_case_is_folded() {
        assert_eq!(check("Jane.Smith@NHS.NET"), Ok("jane.smith@nhs.net".into()));
    }

    #[test]
    fn look_alike_domains_are_refused() {
        assert_eq!(check("x@nhs.net.evil.com"), Err(not_approved()));
        assert_eq!(check("x@evil-nhs.net"), Err(not_approved()));
        assert_eq!(check("x@evilnhs.net"), Err(not_approved()));
        assert_eq!(check("x@nhs.net."), Err(EmailRejection::TrailingDot));
        // Cyrillic "е" in "nеt".
        assert_eq!(check("x@nhs.n\u{435}t"), Err(EmailRejection::InvalidDomain));
        assert_eq!(
            check("x@nhs.net@evil.com"),
            Err(EmailRejection::InvalidLocalPart)
        );
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        assert_eq!(check(""), Err(EmailRejection::Empty));
        assert_eq!(check("   "), Err(EmailRejection::Empty));
        assert_eq!(check("jane.nhs.net"), Err(EmailRejection::MissingAt));
        assert_eq!(check("@nhs.net"), Err(EmailRejection::InvalidLocalPart));
        assert_eq!(check("a..b@nhs.net"), Err(EmailRejection::InvalidLocalPart));
        assert_eq!(check("a b@nhs.net"), Err(EmailRejection::InvalidLocalPart));
        assert_eq!(check("a@"), Err(EmailRejection::InvalidDomain));
        assert_eq!(check("a@nhs..net"), Err(EmailRejection::InvalidDomain));
        assert_eq!(check("a@-nhs.net"), Err(EmailRejection::InvalidDomain));
        assert_eq!(check("a@localhost"), Err(EmailRejection::InvalidDomain));
    }

    #[test]
    fn configured_domains_replace_the_defaults() {
        let policy = EmailPolicy {
            approved_domains: vec!["example.org".into()],
        };
        assert_eq!(
            policy.check("a@mail.example.org"),
            Ok("a@mail.example.org".into())
        );
        assert!(matches!(
            policy.check("a@nhs.net"),
            Err(EmailRejection::DomainNotApproved { .. })
        ));
    }

    #[test]
    fn refusal_names_the_approved_domains() {
        let message = not_approved().to_string();
        assert!(
            message.contains("nhs.net, nhs.uk, gov.uk, mod.uk"),
            "{message}"
        );
    }
}
