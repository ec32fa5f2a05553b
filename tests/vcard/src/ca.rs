//! The test certificate authority that issues the virtual cards' certificates, and that the
//! reference portal trusts. Generated on first use in a directory of the caller's choosing.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};
use time::{Date, OffsetDateTime, Time};

use crate::card_file::{CardFile, CardKeys, KeyAlgorithm};

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key.pem";
const CA_NAME: &str = "Smartcard Self-Service Test Issuing CA";
const ORGANISATION: &str = "Smartcard Self-Service Test";

pub struct TestCa {
    pub dir: PathBuf,
    pub cert_pem: String,
    key: KeyPair,
}

/// The CA's own parameters. Rebuilt the same way each time, so a stored CA key can issue
/// certificates whose issuer name matches the stored CA certificate.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANISATION);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
    params
}

impl TestCa {
    /// Loads the CA from `dir`, creating it there first if it does not exist.
    pub fn load_or_create(dir: &Path) -> Result<TestCa> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            let key_pem = std::fs::read_to_string(&key_path)?;
            return Ok(TestCa {
                dir: dir.to_path_buf(),
                cert_pem: std::fs::read_to_string(&cert_path)?,
                key: KeyPair::from_pem(&key_pem).context("reading the CA key")?,
            });
        }
        std::fs::create_dir_all(dir)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = ca_params().self_signed(&key)?;
        std::fs::write(&key_path, key.serialize_pem())?;
        std::fs::write(&cert_path, cert.pem())?;
        Ok(TestCa {
            dir: dir.to_path_buf(),
            cert_pem: cert.pem(),
            key,
        })
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// Generates the card's 9A and 9E keys and certificates, valid until the card expires.
    pub fn issue_card_keys(&self, card: &CardFile) -> Result<CardKeys> {
        let expiry = card.expiry_date()?;
        let (authentication_key, authentication_certificate) =
            self.issue(card, expiry, "PIV Authentication", false)?;
        let (card_authentication_key, card_authentication_certificate) =
            self.issue(card, expiry, "Card Authentication", true)?;
        Ok(CardKeys {
            authentication_key,
            authentication_certificate,
            card_authentication_key,
            card_authentication_certificate,
        })
    }

    fn issue(
        &self,
        card: &CardFile,
        expiry: Date,
        role: &str,
        card_authentication: bool,
    ) -> Result<(String, String)> {
        let key = match card.key_algorithm {
            KeyAlgorithm::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            KeyAlgorithm::Rsa2048 => {
                use rsa::pkcs8::EncodePrivateKey;
                let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)?;
                let pkcs8 = private.to_pkcs8_der()?;
                KeyPair::from_pkcs8_der_and_sign_algo(
                    &pkcs8.as_bytes().into(),
                    &rcgen::PKCS_RSA_SHA256,
                )?
            }
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, card.holder_name.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, ORGANISATION);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, role);
        // The holder's identity number, as NHS certificates carry it.
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), card.uuid.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if card_authentication {
            // Card Authentication certificates carry the card GUID in the subject alt name
            // as a URN (SP 800-73 / FIPS 201 practice).
            params.subject_alt_names = vec![rcgen::SanType::URI(
                format!("urn:uuid:{}", hyphenated(&card.guid)).try_into()?,
            )];
        }
        let not_after = expiry.with_time(Time::from_hms(23, 59, 59)?).assume_utc();
        params.not_after = not_after;
        params.not_before = not_after - time::Duration::days(2 * 365);
        let issuer = Issuer::new(ca_params(), &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((key.serialize_pem(), cert.pem()))
    }
}

fn hyphenated(guid: &str) -> String {
    let g = guid.to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &g[..8],
        &g[8..12],
        &g[12..16],
        &g[16..20],
        &g[20..]
    )
}
