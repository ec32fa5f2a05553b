//! What the host and the portal read of a card certificate, read one way: the subject, its
//! common name (the holder, as the card's 9E certificate names them even on a locked card)
//! and the validity period.

use x509_cert::der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::Decode;
use x509_cert::{Certificate, TbsCertificate};

/// id-at-commonName (X.520).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The subject as RFC 4514 text.
    pub subject: String,
    /// The subject's first common name, when it is a UTF8String or PrintableString.
    pub common_name: Option<String>,
    /// The validity period, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertificateFacts {
    pub fn of(tbs: &TbsCertificate) -> CertificateFacts {
        let common_name = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|attribute| attribute.oid == COMMON_NAME)
            .and_then(|attribute| {
                attribute
                    .value
                    .decode_as::<Utf8StringRef<'_>>()
                    .map(|s| s.as_str().to_string())
                    .or_else(|_| {
                        attribute
                            .value
                            .decode_as::<PrintableStringRef<'_>>()
                            .map(|s| s.as_str().to_string())
                    })
                    .ok()
            });
        let unix = |time: &x509_cert::time::Time| {
            i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        CertificateFacts {
            subject: tbs.subject.to_string(),
            common_name,
            not_before: unix(&tbs.validity.not_before),
            not_after: unix(&tbs.validity.not_after),
        }
    }

    /// The facts of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertificateFacts, x509_cert::der::Error> {
        Ok(CertificateFacts::of(
            &Certificate::from_der(der)?.tbs_certificate,
        ))
    }

    /// Whether `now` (Unix seconds) is inside the validity period.
    pub fn valid_at(&self, now: i64) -> bool {
        (self.not_before..=self.not_after).contains(&now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    fn certificate(common_name: DnValue) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "NHS");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.not_before = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("t");
        params.not_after = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("t");
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("sign").der().to_vec()
    }

    #[test]
    fn reads_the_holder_and_the_validity_of_either_string_kind() {
        for name in [
            DnValue::Utf8String("Mrs Amina Okafor".into()),
            DnValue::PrintableString("Mrs Amina Okafor".try_into().expect("printable")),
        ] {
            let facts = CertificateFacts::from_der(&certificate(name)).expect("DER");
            assert_eq!(facts.common_name.as_deref(), Some("Mrs Amina Okafor"));
            assert!(
                facts.subject.contains("CN=Mrs Amina Okafor"),
                "{}",
                facts.subject
            );
            assert_eq!(
                (facts.not_before, facts.not_after),
                (1_700_000_000, 1_800_000_000)
            );
            assert!(facts.valid_at(1_700_000_000) && facts.valid_at(1_800_000_000));
            assert!(!facts.valid_at(1_699_999_999) && !facts.valid_at(1_800_000_001));
        }
        assert!(CertificateFacts::from_der(b"not a certificate").is_err());
    }
}
