//! `selfservice-portal`: a reference implementation of the server side of Smartcard
//! Self-Service registration and unlock (docs/DESIGN.md §2, 3.3, 4.2, 4.3, 4.5), for the end-to-end
//! tests, the demo, and NHS integrators to read.
//!
//! - [`api`]: the `/api/v1` endpoints, one module per journey
//! - [`cardproof`]: checking a card's signed answer and its certificate chain
//! - [`secrets`]: keys, codes, MACs, Argon2id, PUK encryption, authorization signing
//! - [`db`], [`audit`]: SQLite storage and the hash-chained audit trail
//! - [`mail`]: email out (SMTP, or an outbox folder)
//! - [`pages`]: the portal screens that launch the extension
//! - [`ops`]: the operator commands (enrol a card, clear a lock, export the audit)

pub mod api;
pub mod audit;
pub mod cardproof;
pub mod clock;
pub mod config;
pub mod db;
pub mod mail;
pub mod ops;
pub mod pages;
pub mod secrets;
pub mod throttle;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use api::Portal;
use config::PortalConfig;

/// Opens the database and keys and builds the whole application.
pub fn build(config: PortalConfig) -> anyhow::Result<(axum::Router, api::AppState)> {
    config.check()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = db::open(&config.data_dir.join("portal.sqlite3"))?;
    let keys = secrets::Keys::load_or_create(&config.data_dir)?;
    let trusted_ca = match &config.trusted_ca {
        Some(path) => Some(cardproof::TrustedCa::from_pem(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?),
        None => {
            tracing::warn!("no trusted-ca configured: every card proof will be refused");
            None
        }
    };
    let mailer = mail::Mailer::new(&config.mail, &config.data_dir)?;
    let clock = clock::Clock::new(config.clock);
    let state = Arc::new(Portal {
        config,
        db: Mutex::new(db),
        keys,
        clock,
        mailer,
        rounds: api::RoundLocks::default(),
        trusted_ca,
    });
    let app = api::router(Arc::clone(&state)).merge(pages::router(Arc::clone(&state)));
    Ok((app, state))
}

/// Serves until Ctrl-C or SIGTERM. Prints `listening on ADDR` once ready.
pub async fn serve(config: PortalConfig) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    let (app, state) = build(config)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    println!("listening on {address}");
    println!("portal public key {}", state.keys.public_key_base64());
    tracing::info!(%address, origin = %state.config.origin, "portal ready");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
