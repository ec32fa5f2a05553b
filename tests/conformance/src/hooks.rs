//! The test-mode hooks a portal team supplies: one command, run as `<command> <hook>` through
//! `sh -c`, with a JSON object on standard input and a JSON object on standard output.
//!
//! | hook | input | output |
//! |---|---|---|
//! | `enrol` | `{caCertificate, guid, uuid, holderName, emailOnFile, puk, certificate9a, certificate9e}` (PEM) | `{}`: the card is enrolled afresh (trust the CA, pin the two keys, forget any registration or lock of this person) |
//! | `code` | `{email}` | `{code}`: the newest code the portal emailed to that address |
//! | `public-key` | `{}` | `{publicKey}`: the portal's Ed25519 public key, 32 bytes, base64 |

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook {hook}: could not run `{command}`: {source}")]
    Start {
        hook: &'static str,
        command: String,
        source: std::io::Error,
    },
    #[error("hook {hook} failed ({status}): {stderr}")]
    Failed {
        hook: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("hook {hook} answered no JSON object ({answer:?}): {source}")]
    Answer {
        hook: &'static str,
        answer: String,
        source: serde_json::Error,
    },
    #[error("hook {hook} answered without {field}: {answer}")]
    Missing {
        hook: &'static str,
        field: &'static str,
        answer: Value,
    },
}

pub struct Hooks {
    command: String,
}

impl Hooks {
    pub fn new(command: impl Into<String>) -> Hooks {
        Hooks {
            command: command.into(),
        }
    }

    fn call(&self, hook: &'static str, input: &Value) -> Result<Value, HookError> {
        let start = |source| HookError::Start {
            hook,
            command: self.command.clone(),
            source,
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$1\"", self.command))
            .arg("sh")
            .arg(hook)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(start)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.to_string().as_bytes())
                .map_err(start)?;
        }
        let output = child.wait_with_output().map_err(start)?;
        if !output.status.success() {
            return Err(HookError::Failed {
                hook,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
        serde_json::from_str(&answer).map_err(|source| HookError::Answer {
            hook,
            answer,
            source,
        })
    }

    fn field(hook: &'static str, answer: Value, field: &'static str) -> Result<String, HookError> {
        match answer.get(field).and_then(Value::as_str) {
            Some(value) => Ok(value.to_string()),
            None => Err(HookError::Missing {
                hook,
                field,
                answer,
            }),
        }
    }

    pub fn enrol(&self, card: &Value) -> Result<(), HookError> {
        self.call("enrol", card).map(|_| ())
    }

    pub fn code(&self, email: &str) -> Result<String, HookError> {
        let answer = self.call("code", &serde_json::json!({ "email": email }))?;
        Self::field("code", answer, "code")
    }

    pub fn public_key(&self) -> Result<String, HookError> {
        let answer = self.call("public-key", &serde_json::json!({}))?;
        Self::field("public-key", answer, "publicKey")
    }
}
