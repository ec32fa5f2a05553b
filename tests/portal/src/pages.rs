//! The two portal screens the staff guides show ("My Profile > Self Service > Register" and
//! "Smartcard Service Centre > Smartcard Unlock > Start"), and the demo's outbox. Each screen
//! asks through the page library (`page-library/`, served as it is committed) whether the
//! extension and its host are there; if they are, the button opens the extension's guided
//! page; if not, the page says what to do. Passcodes are never typed here.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
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
header a.language { color: #fff; float: right; font-weight: normal; }
"#;

/// The reference portal's two languages: English, and Welsh for NHS Wales (the Welsh
/// Language Standards). `?lang=cy` or `?lang=en` chooses; else the browser's Accept-Language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Cy,
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl Lang {
    fn of(query: &LangQuery, headers: &HeaderMap) -> Lang {
        match query.lang.as_deref() {
            Some("cy") => return Lang::Cy,
            Some("en") => return Lang::En,
            _ => {}
        }
        // The first language the browser names that we have.
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        for tag in accepted.split(',') {
            let primary = tag.split(';').next().unwrap_or_default().trim();
            let primary = primary.split('-').next().unwrap_or_default();
            if primary.eq_ignore_ascii_case("cy") {
                return Lang::Cy;
            }
            if primary.eq_ignore_ascii_case("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    fn text(self) -> &'static PageText {
        match self {
            Lang::En => &ENGLISH,
            Lang::Cy => &WELSH,
        }
    }
}

/// Every sentence of the portal's pages, in one language.
struct PageText {
    lang: &'static str,
    /// The link to the other language: its `lang`, its query value, and its name in itself.
    other: (&'static str, &'static str, &'static str),
    product: &'static str,
    service: &'static str,
    reference: &'static str,
    home: &'static str,
    home_intro: &'static str,
    home_profile: &'static str,
    home_unlock: &'static str,
    home_outbox: &'static str,
    profile_title: &'static str,
    profile_body: &'static str,
    register: &'static str,
    unlock_title: &'static str,
    unlock_body: &'static str,
    start: &'static str,
    checking: &'static str,
    ready: &'static str,
    no_reader: &'static str,
    card_none: &'static str,
    card_ready: &'static str,
    card_locked: &'static str,
    extension_absent: &'static str,
    blocked: &'static str,
    versions: &'static str,
    host_missing: &'static str,
    open_failed: &'static str,
}

const ENGLISH: PageText = PageText {
    lang: "en-GB",
    other: ("cy", "cy", "Cymraeg"),
    product: PRODUCT_NAME,
    service: "Care Identity Service",
    reference: "(reference portal)",
    home: "Reference portal",
    home_intro: "This portal stands in for the NHS Care Identity Service screens that start Smartcard Self-Service.",
    home_profile: "My Profile: Self Service registration",
    home_unlock: "Smartcard Service Centre: Smartcard Unlock",
    home_outbox: "Outbox (test mode: every email sent)",
    profile_title: "My Profile",
    profile_body: r#"<h1>My Profile</h1>
<h2>Self Service</h2>
<p>Register for Self Service to unlock your own Smartcard if it locks. Registration takes less than 5 minutes in 4 simple steps:</p>
<ol><li>Enter your Smartcard passcode to confirm your identity.</li><li>Select and answer 4 security questions.</li>
<li>Confirm the email address you wish to use for Self Service.</li><li>Enter the registration code sent to your email address.</li></ol>
<p>You need an email address from a provider approved for use with the Spine, for example nhs.net, nhs.uk, gov.uk or mod.uk.</p>"#,
    register: "Register",
    unlock_title: "Smartcard Unlock",
    unlock_body: r#"<h1>Smartcard Service Centre</h1>
<h2>Smartcard Unlock</h2>
<p>Here you can unlock your Smartcard and set a new passcode. You need to have registered for the Smartcard Unlock Service to be able to do this.</p>
<p>Complete these 3 simple steps to unlock your Smartcard.</p>
<ol><li>Answer security questions you set during registration.</li><li>Enter the Unlock Code that we will send you via registered email.</li><li>Reset your Smartcard passcode.</li></ol>
<p>These steps should take no longer than 5 minutes to complete. Please make sure you have access to your email account.</p>
<p>To start the process, insert your Smartcard into the Smartcard reader and press the Start button below.</p>"#,
    start: "Start",
    checking: "Checking this computer...",
    ready: "Smartcard Self-Service is ready on this computer.",
    no_reader: "No card reader is connected.",
    card_none: "no card",
    card_ready: "a card, ready",
    card_locked: "a card, locked",
    extension_absent: "The Smartcard Self-Service extension is not installed in this browser. Contact your IT service desk and ask them to install Smartcard Self-Service.",
    blocked: "Your organisation's browser settings do not allow Smartcard Self-Service to use the smartcard software on this computer. Contact your IT service desk and ask them to allow the native messaging host {host} in the browser policy.",
    versions: "The Smartcard Self-Service extension and the smartcard software on this computer do not match. Contact your IT service desk and ask them to update Smartcard Self-Service.",
    host_missing: "The Smartcard Self-Service extension is installed, but the smartcard software it needs is missing from this computer. Contact your IT service desk and ask them to install Smartcard Self-Service.",
    open_failed: "Smartcard Self-Service could not open. Reload this page and try again.",
};

const WELSH: PageText = PageText {
    lang: "cy",
    other: ("en-GB", "en", "English"),
    product: "Hunanwasanaeth Cerdyn Clyfar",
    service: "Gwasanaeth Hunaniaeth Gofal",
    reference: "(porth cyfeirio)",
    home: "Porth cyfeirio",
    home_intro: "Mae'r porth hwn yn cymryd lle sgriniau Gwasanaeth Hunaniaeth Gofal y GIG sy'n dechrau Hunanwasanaeth Cerdyn Clyfar.",
    home_profile: "Fy Mhroffil: cofrestru ar gyfer Hunanwasanaeth",
    home_unlock: "Canolfan Gwasanaeth Cerdyn Clyfar: Datgloi Cerdyn Clyfar",
    home_outbox: "Blwch allan (modd prawf: pob e-bost a anfonwyd)",
    profile_title: "Fy Mhroffil",
    profile_body: r#"<h1>Fy Mhroffil</h1>
<h2>Hunanwasanaeth</h2>
<p>Cofrestrwch ar gyfer Hunanwasanaeth i ddatgloi eich Cerdyn Clyfar eich hun os bydd yn cloi. Mae cofrestru'n cymryd llai na 5 munud mewn 4 cam syml:</p>
<ol><li>Rhowch god pas eich Cerdyn Clyfar i gadarnhau pwy ydych chi.</li><li>Dewiswch ac atebwch 4 cwestiwn diogelwch.</li>
<li>Cadarnhewch y cyfeiriad e-bost yr hoffech ei ddefnyddio ar gyfer Hunanwasanaeth.</li><li>Rhowch y cod cofrestru a anfonwyd i'ch cyfeiriad e-bost.</li></ol>
<p>Mae arnoch angen cyfeiriad e-bost gan ddarparwr a gymeradwywyd i'w ddefnyddio gyda'r Spine, er enghraifft nhs.net, nhs.uk, gov.uk neu mod.uk.</p>"#,
    register: "Cofrestru",
    unlock_title: "Datgloi Cerdyn Clyfar",
    unlock_body: r#"<h1>Canolfan Gwasanaeth Cerdyn Clyfar</h1>
<h2>Datgloi Cerdyn Clyfar</h2>
<p>Yma gallwch ddatgloi eich Cerdyn Clyfar a gosod cod pas newydd. Mae angen i chi fod wedi cofrestru ar gyfer y Gwasanaeth Datgloi Cerdyn Clyfar i allu gwneud hyn.</p>
<p>Cwblhewch y 3 cham syml hyn i ddatgloi eich Cerdyn Clyfar.</p>
<ol><li>Atebwch y cwestiynau diogelwch a osodwyd gennych wrth gofrestru.</li><li>Rhowch y Cod Datgloi y byddwn yn ei anfon atoch drwy'r e-bost cofrestredig.</li><li>Ailosodwch god pas eich Cerdyn Clyfar.</li></ol>
<p>Ni ddylai'r camau hyn gymryd mwy na 5 munud. Gwnewch yn siŵr bod gennych fynediad i'ch cyfrif e-bost.</p>
<p>I ddechrau'r broses, rhowch eich Cerdyn Clyfar yn y darllenydd Cerdyn Clyfar a phwyswch y botwm Dechrau isod.</p>"#,
    start: "Dechrau",
    checking: "Wrthi'n gwirio'r cyfrifiadur hwn...",
    ready: "Mae Hunanwasanaeth Cerdyn Clyfar yn barod ar y cyfrifiadur hwn.",
    no_reader: "Nid oes darllenydd cardiau wedi'i gysylltu.",
    card_none: "dim cerdyn",
    card_ready: "cerdyn, yn barod",
    card_locked: "cerdyn, wedi'i gloi",
    extension_absent: "Nid yw'r estyniad Hunanwasanaeth Cerdyn Clyfar wedi'i osod yn y porwr hwn. Cysylltwch â'ch desg gwasanaeth TG a gofynnwch iddynt osod Hunanwasanaeth Cerdyn Clyfar.",
    blocked: "Nid yw gosodiadau porwr eich sefydliad yn caniatáu i Hunanwasanaeth Cerdyn Clyfar ddefnyddio'r feddalwedd cerdyn clyfar ar y cyfrifiadur hwn. Cysylltwch â'ch desg gwasanaeth TG a gofynnwch iddynt ganiatáu'r gwesteiwr negeseuon brodorol {host} ym mholisi'r porwr.",
    versions: "Nid yw'r estyniad Hunanwasanaeth Cerdyn Clyfar a'r feddalwedd cerdyn clyfar ar y cyfrifiadur hwn yn cyfateb. Cysylltwch â'ch desg gwasanaeth TG a gofynnwch iddynt ddiweddaru Hunanwasanaeth Cerdyn Clyfar.",
    host_missing: "Mae'r estyniad Hunanwasanaeth Cerdyn Clyfar wedi'i osod, ond mae'r feddalwedd cerdyn clyfar sydd ei hangen arno ar goll o'r cyfrifiadur hwn. Cysylltwch â'ch desg gwasanaeth TG a gofynnwch iddynt osod Hunanwasanaeth Cerdyn Clyfar.",
    open_failed: "Nid oedd modd agor Hunanwasanaeth Cerdyn Clyfar. Ail-lwythwch y dudalen hon a rhowch gynnig arall arni.",
};

fn page(text: &PageText, path: &str, title: &str, body: &str) -> Html<String> {
    let (other_lang, other_query, other_name) = text.other;
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {product} {reference}</title><style>{STYLE}</style></head>
<body><header>{service} <span style="font-weight:normal">{reference}</span>
<a class="language" href="{path}?lang={other_query}" lang="{other_lang}" hreflang="{other_lang}">{other_name}</a></header>
<main>{body}</main></body></html>"#,
        lang = text.lang,
        product = text.product,
        reference = text.reference,
        service = text.service,
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

/// The page's script: the page library's `status()`, then the button opens the journey. The
/// sentences go in as JSON strings, so no text can break out of the script.
fn bridge_script(text: &PageText, journey: &str) -> String {
    let json = |s: &str| serde_json::Value::from(s).to_string();
    let blocked = text.blocked.replace("{host}", NATIVE_HOST_NAME);
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
const CARD = {{ none: {card_none}, ready: {card_ready}, locked: {card_locked} }};
const found = await status();
switch (problemOf(found)?.code) {{
  case undefined:
    say({ready}, false);
    readers.textContent = found.readers.length === 0
      ? {no_reader}
      : found.readers.map((r) => `${{r.name}}: ${{CARD[r.card]}}`).join("; ");
    button.disabled = false;
    break;
  case "extension-absent":
    say({extension_absent}, true);
    break;
  case "host-blocked-by-policy":
    say({blocked}, true);
    break;
  case "bridge-version":
  case "host-wrong-version":
    say({versions}, true);
    break;
  default:
    say({host_missing}, true);
}}
button.addEventListener("click", () => {{
  open("{journey}").catch(() => say({open_failed}, true));
}});
</script>"#,
        card_none = json(text.card_none),
        card_ready = json(text.card_ready),
        card_locked = json(text.card_locked),
        ready = json(text.ready),
        no_reader = json(text.no_reader),
        extension_absent = json(text.extension_absent),
        blocked = json(&blocked),
        versions = json(text.versions),
        host_missing = json(text.host_missing),
        open_failed = json(text.open_failed),
    )
}

async fn index(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Html<String> {
    let text = Lang::of(&query, &headers).text();
    let outbox = if state.config.test_mode {
        format!(r#"<li><a href="/outbox">{}</a></li>"#, text.home_outbox)
    } else {
        String::new()
    };
    let q = if text.lang == "cy" { "?lang=cy" } else { "" };
    page(
        text,
        "/",
        text.home,
        &format!(
            r#"<h1>{home}</h1>
<p>{intro}</p>
<ul>
<li><a href="/profile{q}">{profile}</a></li>
<li><a href="/unlock{q}">{unlock}</a></li>
{outbox}
</ul>"#,
            home = text.home,
            intro = text.home_intro,
            profile = text.home_profile,
            unlock = text.home_unlock,
        ),
    )
}

fn journey_page(
    text: &PageText,
    path: &str,
    title: &str,
    body: &str,
    button: &str,
    journey: &str,
) -> Html<String> {
    page(
        text,
        path,
        title,
        &format!(
            r#"{body}
<div id="bridge-status" class="panel" role="status" aria-live="polite">{checking}</div>
<p id="bridge-readers"></p>
<button id="start" type="button" disabled>{button}</button>
{script}"#,
            checking = text.checking,
            script = bridge_script(text, journey),
        ),
    )
}

async fn profile(Query(query): Query<LangQuery>, headers: HeaderMap) -> Html<String> {
    let text = Lang::of(&query, &headers).text();
    journey_page(
        text,
        "/profile",
        text.profile_title,
        text.profile_body,
        text.register,
        "register",
    )
}

async fn unlock(Query(query): Query<LangQuery>, headers: HeaderMap) -> Html<String> {
    let text = Lang::of(&query, &headers).text();
    journey_page(
        text,
        "/unlock",
        text.unlock_title,
        text.unlock_body,
        text.start,
        "unlock",
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
        &ENGLISH,
        "/outbox",
        "Outbox",
        &format!("<h1>Outbox</h1><p>Email the portal has sent, newest first.</p>{body}"),
    )
}
