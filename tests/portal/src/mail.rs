//! Email: the three messages of the journeys, delivered by SMTP (lettre) or written to an
//! on-disk outbox that the demo shows at /outbox.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

use crate::config::MailConfig;

pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

pub fn registration_code(to: &str, code: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Smartcard Self Service Registration Code".into(),
        body: format!(
            "Hello\n\nWe have received a request to register for Smartcard Self Service. Please enter the code below to complete your registration.\n\n{code}\n\nThis code is valid for 15 minutes.\nIf you did not request this code please inform your organisation's Registration Authority so that this can be investigated.\n\nPlease do not reply to this email as this email account is not monitored.\n\nRegards,\nSmartcard Service Centre\n"
        ),
    }
}

pub fn unlock_code(to: &str, code: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Smartcard Unlock Code".into(),
        body: format!(
            "Hello\n\nWe have received a request for a Smartcard Unlock Code. Please enter the code below to unlock your Smartcard and set a new passcode.\n\n{code}\n\nThis code is valid for 15 minutes.\nIf you did not request a Smartcard Unlock Code please inform your organisation's Registration Authority so that this can be investigated.\n\nPlease do not reply to this email as this email account is not monitored.\n\nRegards,\nSmartcard Service Centre\n"
        ),
    }
}

pub fn unlock_authorized(to: &str, holder: &str, at: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Your Smartcard is being unlocked".into(),
        body: format!(
            "Hello\n\nAn unlock of the Smartcard issued to {holder} was authorised with Smartcard Self Service at {at} (UTC), after the security questions were answered and the unlock code was entered.\n\nIf this was not you, please inform your organisation's Registration Authority immediately so that this can be investigated.\n\nPlease do not reply to this email as this email account is not monitored.\n\nRegards,\nSmartcard Service Centre\n"
        ),
    }
}

pub fn unlock_notification(to: &str, holder: &str, at: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "Your Smartcard has been unlocked".into(),
        body: format!(
            "Hello\n\nThe Smartcard issued to {holder} was unlocked with Smartcard Self Service at {at} (UTC) and a new passcode was set.\n\nIf this was not you, please inform your organisation's Registration Authority immediately so that this can be investigated.\n\nPlease do not reply to this email as this email account is not monitored.\n\nRegards,\nSmartcard Service Centre\n"
        ),
    }
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: String,
    },
}

impl Mailer {
    pub fn new(config: &MailConfig, data_dir: &std::path::Path) -> anyhow::Result<Mailer> {
        Ok(match config {
            MailConfig::Smtp { host, port, from } => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                    .port(*port)
                    .build(),
                from: from.parse()?,
            },
            MailConfig::Outbox { from } => {
                let dir = data_dir.join("outbox");
                std::fs::create_dir_all(&dir)?;
                Mailer::Outbox {
                    dir,
                    from: from.clone(),
                }
            }
        })
    }

    pub async fn send(&self, email: Email) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(email.to.parse()?)
                    .subject(email.subject)
                    .body(email.body)?;
                transport.send(message).await?;
            }
            Mailer::Outbox { dir, from } => {
                let name = format!(
                    "{}-{}.eml",
                    time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
                    crate::secrets::random_id()
                );
                let text = format!(
                    "From: {from}\nTo: {}\nSubject: {}\n\n{}",
                    email.to, email.subject, email.body
                );
                tokio::fs::write(dir.join(name), text).await?;
            }
        }
        Ok(())
    }

    /// The outbox's messages, newest first (for the /outbox page).
    pub fn outbox(&self) -> Vec<String> {
        let Mailer::Outbox { dir, .. } = self else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names.reverse();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}
