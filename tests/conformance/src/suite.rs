//! The checks, in the order a person's life gives them: register, the abuse cases a portal must
//! refuse, a lockout of the card and its unlock, then self-service locked by wrong answers, and
//! last the throttle (which leaves this client throttled for a while).

use anyhow::{bail, ensure, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use selfservice_rules::api::paths;
use selfservice_rules::codes::CODE_MAX_TRIES;

use crate::hooks::Hooks;
use crate::host::Host;

/// The virtual card's passcode (`tests/vcard/cards/unlocked.toml`) and the new one.
pub const PASSCODE: &str = "583920";
pub const NEW_PASSCODE: &str = "860245";
/// An origin the host will sign for (the suite's host configuration allows it) and the portal
/// must refuse.
pub const OTHER_ORIGIN: &str = "https://elsewhere.example.nhs.uk";

const ANSWERS: [(&str, &str); 4] = [
    ("mother-maiden-name", "Adeyemi"),
    ("first-car", "Vauxhall Nova"),
    ("childhood-phone", "0121 496 0000"),
    ("first-pet", "Biscuit"),
];

/// One row of the table.
pub struct Outcome {
    pub id: &'static str,
    pub what: &'static str,
    pub result: Result<()>,
}

/// The portal over HTTP: 2xx answers, or the status and body of a refusal.
pub struct Portal {
    base: String,
    agent: ureq::Agent,
}

pub enum Answer {
    Ok(Value),
    Refused(u16, Value),
}

impl Answer {
    fn ok(self, what: &str) -> Result<Value> {
        match self {
            Answer::Ok(value) => Ok(value),
            Answer::Refused(status, body) => bail!("{what}: refused with {status} {body}"),
        }
    }

    /// Refused with one of `codes` (and a 4xx status); anything else fails.
    fn refused(self, what: &str, codes: &[&str]) -> Result<Value> {
        match self {
            Answer::Ok(value) => bail!("{what}: accepted ({value}); expected {codes:?}"),
            Answer::Refused(status, body) => {
                let code = body["error"]["code"].as_str().unwrap_or_default();
                ensure!(
                    (400..500).contains(&status) && codes.contains(&code),
                    "{what}: {status} {body}; expected {codes:?}"
                );
                Ok(body["error"].clone())
            }
        }
    }
}

impl Portal {
    pub fn new(base: &str) -> Portal {
        Portal {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Answer> {
        match self
            .agent
            .post(&format!("{}{path}", self.base))
            .send_json(body)
        {
            Ok(response) => Ok(Answer::Ok(response.into_json()?)),
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_json().unwrap_or(Value::Null);
                Ok(Answer::Refused(status, body))
            }
            Err(error) => Err(error).with_context(|| format!("POST {path}")),
        }
    }
}

/// Everything one run needs.
pub struct Run<'a> {
    pub portal: Portal,
    pub origin: String,
    pub host: &'a mut Host,
    pub hooks: &'a Hooks,
    pub email: String,
    /// The code last read for each address: a new code must differ from it.
    last_code: Option<String>,
}

impl<'a> Run<'a> {
    pub fn new(
        portal: &str,
        origin: &str,
        host: &'a mut Host,
        hooks: &'a Hooks,
        card: &Value,
    ) -> Run<'a> {
        Run {
            portal: Portal::new(portal),
            origin: origin.to_string(),
            host,
            hooks,
            email: card["emailOnFile"].as_str().unwrap_or_default().to_string(),
            last_code: None,
        }
    }

    /// The newest emailed code, once it is a new one (mail may take a moment to arrive).
    fn new_code(&mut self) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let code = self.hooks.code(&self.email);
            match code {
                Ok(code) if Some(&code) != self.last_code.as_ref() => {
                    self.last_code = Some(code.clone());
                    return Ok(code);
                }
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Ok(code) => bail!("no new code was emailed (still {code})"),
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// A challenge for `purpose` and the card's proof over it for `origin`.
    fn proof(
        &mut self,
        purpose: &str,
        origin: &str,
        passcode: Option<&str>,
    ) -> Result<(Value, Value)> {
        let challenge = self
            .portal
            .post(paths::CHALLENGES, json!({ "purpose": purpose }))?
            .ok("challenges")?;
        let mut request = json!({
            "type": "prove-possession", "purpose": purpose, "origin": origin,
            "nonce": challenge["nonce"], "waitForCardMs": 5000
        });
        if let Some(passcode) = passcode {
            request["passcode"] = json!(passcode);
        }
        let proof = self.host.result(request)?;
        Ok((challenge, proof))
    }

    fn start_body(challenge: &Value, proof: &Value) -> Value {
        json!({ "challengeId": challenge["challengeId"], "proof": proof })
    }

    fn answers_for(question_ids: &Value) -> Vec<Value> {
        question_ids
            .as_array()
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        let answer = ANSWERS
                            .iter()
                            .find(|(q, _)| Some(*q) == id.as_str())
                            .map_or("", |(_, a)| a);
                        json!({ "questionId": id, "answer": answer })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wrong_answers_for(question_ids: &Value) -> Vec<Value> {
        question_ids
            .as_array()
            .map(|ids| {
                ids.iter()
                    .map(|id| json!({ "questionId": id, "answer": "Not the answer" }))
                    .collect()
            })
            .unwrap_or_default()
    }

    // ---- the checks --------------------------------------------------------------------

    fn unknown_field(&mut self) -> Result<()> {
        self.portal
            .post(
                paths::CHALLENGES,
                json!({ "purpose": "register", "extra": 1 }),
            )?
            .refused(
                "a challenge request with an unknown field",
                &["bad-request"],
            )?;
        Ok(())
    }

    fn wrong_origin(&mut self) -> Result<()> {
        let (challenge, proof) = self.proof("register", OTHER_ORIGIN, Some(PASSCODE))?;
        self.portal
            .post(
                paths::REGISTRATION_START,
                Self::start_body(&challenge, &proof),
            )?
            .refused("a proof signed for another origin", &["proof-rejected"])?;
        Ok(())
    }

    fn wrong_purpose(&mut self) -> Result<()> {
        // A registration proof (9A, passcode) over an unlock challenge.
        let challenge = self
            .portal
            .post(paths::CHALLENGES, json!({ "purpose": "unlock" }))?
            .ok("challenges")?;
        let proof = self.host.result(json!({
            "type": "prove-possession", "purpose": "register", "origin": self.origin,
            "nonce": challenge["nonce"], "passcode": PASSCODE, "waitForCardMs": 5000
        }))?;
        self.portal
            .post(paths::UNLOCK_START, Self::start_body(&challenge, &proof))?
            .refused(
                "a registration proof for unlock",
                &["proof-rejected", "challenge-invalid"],
            )?;
        Ok(())
    }

    /// Registration, with a replayed challenge and a replayed code refused on the way.
    fn register(&mut self) -> Result<()> {
        let (challenge, proof) = self.proof("register", &self.origin.clone(), Some(PASSCODE))?;
        let body = Self::start_body(&challenge, &proof);
        let started = self
            .portal
            .post(paths::REGISTRATION_START, body.clone())?
            .ok("registration/start")?;
        self.portal
            .post(paths::REGISTRATION_START, body)?
            .refused("the same challenge answered twice", &["challenge-invalid"])?;
        let flow = started["flowId"].clone();
        let answers: Vec<Value> = ANSWERS
            .iter()
            .map(|(q, a)| json!({ "questionId": q, "answer": a }))
            .collect();
        self.portal
            .post(
                paths::REGISTRATION_QUESTIONS,
                json!({ "flowId": flow, "answers": answers }),
            )?
            .ok("registration/questions")?;
        self.portal
            .post(
                paths::REGISTRATION_EMAIL,
                json!({ "flowId": flow, "email": self.email }),
            )?
            .ok("registration/email")?;
        let code = self.new_code()?;
        self.portal
            .post(
                paths::REGISTRATION_CONFIRM,
                json!({ "flowId": flow, "code": code }),
            )?
            .ok("registration/confirm")?;
        self.portal
            .post(
                paths::REGISTRATION_CONFIRM,
                json!({ "flowId": flow, "code": code }),
            )?
            .refused(
                "a registration code used twice",
                &["code-spent", "code-invalid", "out-of-order", "flow-expired"],
            )?;
        Ok(())
    }

    /// Three wrong passcodes through the host, as a person at a login would.
    fn lock_card(&mut self) -> Result<()> {
        for _ in 0..3 {
            self.host.request(json!({
                "type": "prove-possession", "purpose": "register", "origin": self.origin,
                "nonce": "q2Fy9Yk3qv5oVx1oZ0lZb1pQm9yq1S3dXr8W0vT6kYc", "passcode": "000000"
            }))?;
        }
        Ok(())
    }

    /// An unlock flow started and its questions answered: the flow id.
    fn unlock_to_code(&mut self) -> Result<Value> {
        let (challenge, proof) = self.proof("unlock", &self.origin.clone(), None)?;
        let started = self
            .portal
            .post(paths::UNLOCK_START, Self::start_body(&challenge, &proof))?
            .ok("unlock/start")?;
        let flow = started["flowId"].clone();
        self.portal
            .post(
                paths::UNLOCK_ANSWERS,
                json!({ "flowId": flow, "answers": Self::answers_for(&started["questionIds"]) }),
            )?
            .ok("unlock/answers")?;
        Ok(flow)
    }

    /// Wrong codes: `code-invalid` with the tries left, then `code-spent` (the contract's
    /// number of tries, `CODE_MAX_TRIES`), and the right code no longer helps.
    fn wrong_codes(&mut self) -> Result<()> {
        let flow = self.unlock_to_code()?;
        let right = self.new_code()?;
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for tries_left in (0..CODE_MAX_TRIES).rev() {
            let refusal = self
                .portal
                .post(paths::UNLOCK_CODE, json!({ "flowId": flow, "code": wrong }))?
                .refused("a wrong unlock code", &["code-invalid", "code-spent"])?;
            if tries_left > 0 {
                ensure!(
                    refusal["code"] == "code-invalid" && refusal["triesLeft"] == json!(tries_left),
                    "expected code-invalid with {tries_left} tries left: {refusal}"
                );
            } else {
                ensure!(
                    refusal["code"] == "code-spent",
                    "wrong code {CODE_MAX_TRIES}: {refusal}"
                );
            }
        }
        self.portal
            .post(paths::UNLOCK_CODE, json!({ "flowId": flow, "code": right }))?
            .refused("the right code after the last wrong one", &["code-spent"])?;
        Ok(())
    }

    /// The unlock, with a code replay and a forged receipt refused on the way; the card then
    /// takes the new passcode.
    fn unlock(&mut self) -> Result<()> {
        let flow = self.unlock_to_code()?;
        let code = self.new_code()?;
        self.portal
            .post(paths::UNLOCK_CODE, json!({ "flowId": flow, "code": code }))?
            .ok("unlock/code")?;
        self.portal
            .post(paths::UNLOCK_CODE, json!({ "flowId": flow, "code": code }))?
            .refused(
                "an unlock code used twice",
                &["code-spent", "code-invalid", "out-of-order"],
            )?;
        let (challenge, proof) = self.proof("unlock", &self.origin.clone(), None)?;
        let issued = self
            .portal
            .post(
                paths::UNLOCK_AUTHORIZATION,
                json!({ "flowId": flow, "challengeId": challenge["challengeId"], "proof": proof }),
            )?
            .ok("unlock/authorization")?;
        let unlocked = self.host.result(json!({
            "type": "unlock", "origin": self.origin,
            "authorization": issued["authorization"], "newPasscode": NEW_PASSCODE
        }))?;
        ensure!(
            unlocked["state"]["unblocked"] == json!(true),
            "the host did not unblock the card with the portal's authorization: {unlocked}"
        );
        // A forgery only a signature check catches: the same outcome, still valid JSON and
        // base64url, written with other bytes (so the card's signature is not over them).
        let mut forged = unlocked["receipt"].clone();
        let outcome: Value = URL_SAFE_NO_PAD
            .decode(forged["outcome"].as_str().unwrap_or_default())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .context("the host's receipt outcome is base64url JSON")?;
        forged["outcome"] = json!(URL_SAFE_NO_PAD.encode(serde_json::to_vec_pretty(&outcome)?));
        self.portal
            .post(
                paths::UNLOCK_RESULT,
                json!({ "flowId": flow, "authorizationId": issued["authorizationId"], "receipt": forged }),
            )?
            .refused("a receipt the card did not sign", &["proof-rejected", "bad-request"])?;
        self.portal
            .post(
                paths::UNLOCK_RESULT,
                json!({ "flowId": flow, "authorizationId": issued["authorizationId"], "receipt": unlocked["receipt"] }),
            )?
            .ok("unlock/result")?;
        // The card works with the new passcode: a registration proof passes it.
        self.proof("register", &self.origin.clone(), Some(NEW_PASSCODE))
            .context("the new passcode on the card")?;
        Ok(())
    }

    /// Three failed rounds lock self-service; the right answers are refused after.
    fn lockout(&mut self) -> Result<()> {
        let mut last = Value::Null;
        for round in 1..=3 {
            let (challenge, proof) = self.proof("unlock", &self.origin.clone(), None)?;
            let started = self
                .portal
                .post(paths::UNLOCK_START, Self::start_body(&challenge, &proof))?
                .ok("unlock/start")?;
            let refusal = self
                .portal
                .post(
                    paths::UNLOCK_ANSWERS,
                    json!({ "flowId": started["flowId"], "answers": Self::wrong_answers_for(&started["questionIds"]) }),
                )?
                .refused("wrong answers", &["wrong-answers", "self-service-locked"])?;
            if round < 3 {
                ensure!(
                    refusal["code"] == "wrong-answers" && refusal["roundsLeft"] == json!(3 - round),
                    "round {round}: {refusal}"
                );
            }
            last = refusal;
        }
        ensure!(
            last["code"] == "self-service-locked" && last["raContact"].is_string(),
            "the third wrong round: {last}"
        );
        let (challenge, proof) = self.proof("unlock", &self.origin.clone(), None)?;
        match self
            .portal
            .post(paths::UNLOCK_START, Self::start_body(&challenge, &proof))?
        {
            Answer::Ok(started) => {
                self.portal
                    .post(
                        paths::UNLOCK_ANSWERS,
                        json!({ "flowId": started["flowId"], "answers": Self::answers_for(&started["questionIds"]) }),
                    )?
                    .refused(
                        "the right answers once self-service is locked",
                        &["self-service-locked"],
                    )?;
            }
            refused => {
                refused.refused(
                    "an unlock once self-service is locked",
                    &["self-service-locked"],
                )?;
            }
        }
        Ok(())
    }

    /// A burst of challenge requests meets `throttled` with `retryAfterSeconds` (at most 2000).
    fn throttle(&mut self) -> Result<()> {
        for _ in 0..2000 {
            if let Answer::Refused(status, body) = self
                .portal
                .post(paths::CHALLENGES, json!({ "purpose": "register" }))?
            {
                let error = &body["error"];
                ensure!(
                    status == 429
                        && error["code"] == "throttled"
                        && error["retryAfterSeconds"].as_u64().is_some_and(|s| s > 0),
                    "a burst of challenges: {status} {body}"
                );
                return Ok(());
            }
        }
        bail!("2000 challenge requests in a burst were all answered")
    }
}

/// Every check, in order; a check whose setup failed leaves the ones that need it not run.
pub fn run(run: &mut Run<'_>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut check = |id, what, result| outcomes.push(Outcome { id, what, result });
    check(
        "bad-request",
        "an unknown field is refused (bad-request)",
        run.unknown_field(),
    );
    check(
        "wrong-origin",
        "a proof for another origin is refused (proof-rejected)",
        run.wrong_origin(),
    );
    check(
        "wrong-purpose",
        "a registration proof cannot start an unlock",
        run.wrong_purpose(),
    );
    let registered = run.register();
    let registered_ok = registered.is_ok();
    check(
        "register",
        "registration; a challenge and a code are accepted once",
        registered,
    );
    if registered_ok {
        let locked = run.lock_card();
        check(
            "wrong-code",
            "wrong unlock codes: tries left, then code-spent",
            locked.and_then(|()| run.wrong_codes()),
        );
        check("unlock", "unlock with the sealed authorization and the card's receipt; a code once; a forged receipt refused", run.unlock());
        check(
            "lockout",
            "three wrong answer rounds lock self-service (self-service-locked)",
            run.lockout(),
        );
    } else {
        for (id, what) in [
            (
                "wrong-code",
                "wrong unlock codes: tries left, then code-spent",
            ),
            (
                "unlock",
                "unlock with the sealed authorization and the card's receipt",
            ),
            ("lockout", "three wrong answer rounds lock self-service"),
        ] {
            check(
                id,
                what,
                Err(anyhow::anyhow!("not run: registration failed")),
            );
        }
    }
    check(
        "throttle",
        "a burst of requests is throttled (429, retryAfterSeconds)",
        run.throttle(),
    );
    outcomes
}

/// The pass/fail table, and how many failed.
pub fn table(outcomes: &[Outcome]) -> (String, usize) {
    let mut text = String::from("| check | what | result |\n|---|---|---|\n");
    let mut failed = 0;
    for outcome in outcomes {
        let result = match &outcome.result {
            Ok(()) => "pass".to_string(),
            Err(error) => {
                failed += 1;
                format!(
                    "FAIL: {}",
                    format!("{error:#}").replace('|', "/").replace('\n', " ")
                )
            }
        };
        text.push_str(&format!(
            "| {} | {} | {result} |\n",
            outcome.id, outcome.what
        ));
    }
    let passed = outcomes.len() - failed;
    text.push_str(&format!("\n{passed} passed, {failed} failed\n"));
    (text, failed)
}
