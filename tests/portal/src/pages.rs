//! The two portal screens the staff guides show ("My Profile > Self Service > Register" and
//! "Smartcard Service Centre > Smartcard Unlock > Start"), and the demo's outbox. Each screen
//! asks through the page library (`page-library/`, served as it is committed) whether the
//! extension and its host are there; if they are, the button opens the extension's guided
//! page; if not, the page says what to do. Passcodes are never typed here.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use selfservice_rules::names::{NATIVE_HOST_NAME, PRODUCT_NAME};

use crate::api::AppState;

pub fn router(state: AppState) -> Router {
    let mut pages = Router::new()
        .route("/", get(index))
        .route("/profile", get(profile))
        .route("/unlock", get(unlock))
        .route(PAGE_LIBRARY_PATH, get(page_library))
        .route(PAGE_LIBRARY_PROTOCOL_PATH, get(page_library_protocol));
    if state.config.test_mode {
        // Every emailed code, to anyone who can reach the portal: test mode only.
        pages = pages.route("/outbox", get(outbox));
    }
    pages.with_state(state)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = r#"
body { font-family: Arial, sans-serif; margin: 0; color: #212b32; background: #f0f4f5; }
header { background: #005eb8; color: #fff; padding: 16px 32px; font-size: 20px; font-weight: bold; }
main { max-width: 760px; margin: 24px auto; background: #fff; padding: 24px 32px; }
h1 { font-size: 28px; } h2 { font-size: 22px; }
a { color: #005eb8; }
button { background: #007f3b; color: #fff; border: 0; font-size: 19px; padding: 12px 20px; cursor: pointer; box-shadow: 0 4px 0 #00401e; }
button:focus { outline: 4px solid #ffeb3b; }
button[disabled] { background: #768692; box-shadow: none; cursor: default; }
.panel { border-left: 8px solid #005eb8; padding: 8px 16px; background: #eef7ff; margin: 16px 0; }
.warning { border-left: 8px solid #d5281b; background: #fff2f1; }
pre { white-space: pre-wrap; background: #f8f8f8; padding: 12px; border: 1px solid #ddd; }
"#;

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en-GB">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {PRODUCT_NAME} (reference portal)</title><style>{STYLE}</style></head>
<body><header>Care Identity Service <span style="font-weight:normal">(reference portal)</span></header>
<main>{body}</main></body></html>"#
    ))
}

/// The page library as a portal serves it: its `dist/` folder, unchanged.
const PAGE_LIBRARY_PATH: &str = "/assets/smartcard-selfservice-page/index.js";
const PAGE_LIBRARY_PROTOCOL_PATH: &str = "/assets/smartcard-selfservice-page/protocol.js";

fn javascript(source: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
}

async fn page_library() -> impl IntoResponse {
    javascript(include_str!("../../../page-library/dist/index.js"))
}

async fn page_library_protocol() -> impl IntoResponse {
    javascript(include_str!("../../../page-library/dist/protocol.js"))
}

/// The page's script: the page library's `status()`, then the button opens the journey.
fn bridge_script(journey: &str) -> String {
    format!(
        r#"<script type="module">
import {{ open, problemOf, status }} from "{PAGE_LIBRARY_PATH}";
const statusBox = document.getElementById("bridge-status");
const readers = document.getElementById("bridge-readers");
const button = document.getElementById("start");
const say = (text, warning) => {{
  statusBox.textContent = text;
  statusBox.className = warning ? "panel warning" : "panel";
}};
const CARD = {{ none: "no card", ready: "a card, ready", locked: "a card, locked" }};
const found = await status();
switch (problemOf(found)?.code) {{
  case undefined:
    say("Smartcard Self-Service is ready on this computer.", false);
    readers.textContent = found.readers.length === 0
      ? "No card reader is connected."
      : found.readers.map((r) => `${{r.name}}: ${{CARD[r.card]}}`).join("; ");
    button.disabled = false;
    break;
  case "extension-absent":
    say("The Smartcard Self-Service extension is not installed in this browser. Contact your IT service desk and ask them to install Smartcard Self-Service.", true);
    break;
  case "host-blocked-by-policy":
    say("Your organisation's browser settings do not allow Smartcard Self-Service to use the smartcard software on this computer. Contact your IT service desk and ask them to allow the native messaging host {NATIVE_HOST_NAME} in the browser policy.", true);
    break;
  case "bridge-version":
  case "host-wrong-version":
    say("The Smartcard Self-Service extension and the smartcard software on this computer do not match. Contact your IT service desk and ask them to update Smartcard Self-Service.", true);
    break;
  default:
    say("The Smartcard Self-Service extension is installed, but the smartcard software it needs is missing from this computer. Contact your IT service desk and ask them to install Smartcard Self-Service.", true);
}}
button.addEventListener("click", () => {{
  open("{journey}").catch(() => say("Smartcard Self-Service could not open. Reload this page and try again.", true));
}});
</script>"#
    )
}

async fn index(State(state): State<AppState>) -> Html<String> {
    page(
        "Home",
        &format!(
            r#"<h1>Reference portal</h1>
<p>This portal stands in for the NHS Care Identity Service screens that start Smartcard Self-Service.</p>
<ul>
<li><a href="/profile">My Profile: Self Service registration</a></li>
<li><a href="/unlock">Smartcard Service Centre: Smartcard Unlock</a></li>
{}
</ul>"#,
            if state.config.test_mode {
                r#"<li><a href="/outbox">Outbox (test mode: every email sent)</a></li>"#
            } else {
                ""
            }
        ),
    )
}

async fn profile() -> Html<String> {
    page(
        "My Profile",
        &format!(
            r#"<h1>My Profile</h1>
<h2>Self Service</h2>
<p>Register for Self Service to unlock your own Smartcard if it locks. Registration takes less than 5 minutes in 4 simple steps:</p>
<ol><li>Enter your Smartcard passcode to confirm your identity.</li><li>Select and answer 4 security questions.</li>
<li>Confirm the email address you wish to use for Self Service.</li><li>Enter the registration code sent to your email address.</li></ol>
<p>You need an email address from a provider approved for use with the Spine, for example nhs.net, nhs.uk, gov.uk or mod.uk.</p>
<div id="bridge-status" class="panel" role="status" aria-live="polite">Checking this computer...</div>
<p id="bridge-readers"></p>
<button id="start" type="button" disabled>Register</button>
{}"#,
            bridge_script("register")
        ),
    )
}

async fn unlock() -> Html<String> {
    page(
        "Smartcard Unlock",
        &format!(
            r#"<h1>Smartcard Service Centre</h1>
<h2>Smartcard Unlock</h2>
<p>Here you can unlock your Smartcard and set a new passcode. You need to have registered for the Smartcard Unlock Service to be able to do this.</p>
<p>Complete these 3 simple steps to unlock your Smartcard.</p>
<ol><li>Answer security questions you set during registration.</li><li>Enter the Unlock Code that we will send you via registered email.</li><li>Reset your Smartcard passcode.</li></ol>
<p>These steps should take no longer than 5 minutes to complete. Please make sure you have access to your email account.</p>
<p>To start the process, insert your Smartcard into the Smartcard reader and press the Start button below.</p>
<div id="bridge-status" class="panel" role="status" aria-live="polite">Checking this computer...</div>
<p id="bridge-readers"></p>
<button id="start" type="button" disabled>Start</button>
{}"#,
            bridge_script("unlock")
        ),
    )
}

async fn outbox(State(state): State<AppState>) -> Html<String> {
    let messages = state.mailer.outbox();
    let body = if messages.is_empty() {
        "<p>No email has been sent yet. (With SMTP delivery configured, mail goes to the SMTP server instead.)</p>".to_string()
    } else {
        messages
            .iter()
            .map(|m| format!("<pre>{}</pre>", escape(m)))
            .collect()
    };
    page(
        "Outbox",
        &format!("<h1>Outbox</h1><p>Email the portal has sent, newest first.</p>{body}"),
    )
}
