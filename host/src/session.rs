//! One native-messaging session: the hello, then requests answered by id (several may be in
//! flight; a slow card operation never holds up `status`), events pushed as they happen, and
//! a prompt, clean end when the browser closes the port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use selfservice_rules::protocol::{
    parse_request, CancelResult, Command, CommandResult, ErrorBody, EventMessage, Hello, HostError,
    HostMessage, Outcome, QuitResult, Reply, PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::commands::{self, Host};
use crate::errors::CommandError;
use crate::framing::{self, Inbound};
use crate::readers::{lock, Cancel};
use crate::watcher::Watcher;

/// More requests than this in flight at once get `busy`.
const MAX_IN_FLIGHT: usize = 16;
/// At the end of input, how long running card operations may take to finish: an unlock cut
/// off half way is worse than a slightly late exit.
const FINISH_GRACE: Duration = Duration::from_secs(15);

pub fn capabilities() -> Vec<String> {
    let mut capabilities: Vec<String> = Command::NAMES.iter().map(|n| n.to_string()).collect();
    capabilities.push("events".into());
    capabilities
}

/// Runs the session on `input`/`output` until the input ends or `quit`.
pub async fn run<R, W>(host: Arc<Host>, mut input: R, output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::unbounded_channel::<HostMessage>();
    // The writer stops on this signal rather than when every sender is gone: the watcher
    // thread holds a sender and may take a moment to notice it should stop.
    let (close, closed) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write_all(receiver, closed, output));
    let _ = sender.send(HostMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").to_string(),
        capabilities: capabilities(),
    }));
    let watcher = {
        let sender = sender.clone();
        Watcher::spawn(Arc::clone(&host.pcsc), move |event| {
            tracing::debug!(?event, "event");
            let _ = sender.send(HostMessage::Event(EventMessage { event }));
        })
    };
    let pending: Arc<Mutex<HashMap<u32, Cancel>>> = Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        let frame = match framing::read_frame(&mut input).await {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(%error, "reading from the browser failed");
                break;
            }
        };
        let body = match frame {
            Inbound::Frame(body) => body,
            Inbound::End { truncated } => {
                if truncated {
                    tracing::warn!("the input ended in the middle of a frame");
                }
                break;
            }
            Inbound::Empty => {
                send_error(&sender, None, "$", "The message is empty.");
                continue;
            }
            Inbound::Oversize(length) => {
                send_error(
                    &sender,
                    None,
                    "$",
                    &format!(
                        "The message is {length} bytes; the limit is {} bytes.",
                        selfservice_rules::protocol::MAX_REQUEST_BYTES
                    ),
                );
                // What follows the length cannot be trusted to be a frame boundary.
                tracing::warn!(length, "an oversize frame ends the session");
                break;
            }
        };
        let request = match parse_request(&body) {
            Ok(request) => request,
            Err(bad) => {
                tracing::info!(field = %bad.field, "bad request");
                send_error(&sender, bad.id, &bad.field, &bad.message);
                continue;
            }
        };
        drop(body);
        let id = request.id;
        tracing::debug!(id, command = request.command.name(), "request");
        match request.command {
            Command::Quit(_) => {
                reply(&sender, id, Ok(QuitResult {}.into()));
                break;
            }
            Command::Cancel(params) => {
                let cancel = lock(&pending).get(&params.request).cloned();
                if let Some(cancel) = &cancel {
                    cancel.cancel();
                }
                let cancelled = CancelResult {
                    cancelled: cancel.is_some(),
                };
                reply(&sender, id, Ok(cancelled.into()));
            }
            command => {
                let cancel = Cancel::default();
                {
                    let mut pending = lock(&pending);
                    if pending.contains_key(&id) {
                        send_error(
                            &sender,
                            Some(id),
                            "id",
                            "A request with this id is still running.",
                        );
                        continue;
                    }
                    if pending.len() >= MAX_IN_FLIGHT {
                        let body = CommandError::Card(crate::piv::CardError::Busy).to_body();
                        let _ = sender.send(HostMessage::Reply(Reply {
                            id: Some(id),
                            outcome: Outcome::Error(body),
                        }));
                        continue;
                    }
                    pending.insert(id, cancel.clone());
                }
                let (host, sender, pending) =
                    (Arc::clone(&host), sender.clone(), Arc::clone(&pending));
                tasks.spawn_blocking(move || {
                    let outcome = execute(&host, command, &cancel);
                    lock(&pending).remove(&id);
                    reply(&sender, id, outcome);
                });
            }
        }
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    // Waits for a card end now; card operations already under way are let finish.
    for cancel in lock(&pending).values() {
        cancel.cancel();
    }
    let _ = tokio::time::timeout(FINISH_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    // The watcher holds nothing that needs saving: give it a moment, then exit regardless
    // (a stop that lands just before its next wait begins would not wake it).
    let watcher_stop = tokio::task::spawn_blocking(move || watcher.stop());
    let _ = tokio::time::timeout(Duration::from_millis(200), watcher_stop).await;
    drop(sender);
    let _ = close.send(());
    match writer.await {
        Ok(result) => result,
        Err(join) => Err(std::io::Error::other(join)),
    }
}

/// Runs one command on this (blocking) thread.
fn execute(host: &Host, command: Command, cancel: &Cancel) -> Result<CommandResult, CommandError> {
    Ok(match command {
        Command::Status(params) => commands::status::run(host, &params).into(),
        Command::FindCard(params) => commands::find_card::run(host, &params, cancel)?.into(),
        Command::ProvePossession(params) => {
            commands::prove_possession::run(host, &params, cancel)?.into()
        }
        Command::Unlock(params) => commands::unlock::run(host, &params, cancel)?.into(),
        Command::ChangePasscode(params) => {
            commands::change_passcode::run(host, &params, cancel)?.into()
        }
        Command::Cancel(_) | Command::Quit(_) => {
            return Err(CommandError::Internal("handled by the session".into()))
        }
    })
}

fn reply(
    sender: &mpsc::UnboundedSender<HostMessage>,
    id: u32,
    outcome: Result<CommandResult, CommandError>,
) {
    let outcome = match outcome {
        Ok(value) => Outcome::Result(value),
        Err(error) => {
            tracing::info!(id, %error, "request failed");
            Outcome::Error(error.to_body())
        }
    };
    let _ = sender.send(HostMessage::Reply(Reply {
        id: Some(id),
        outcome,
    }));
}

fn send_error(
    sender: &mpsc::UnboundedSender<HostMessage>,
    id: Option<u32>,
    field: &str,
    message: &str,
) {
    let body = ErrorBody {
        error: HostError::BadRequest {
            field: field.to_string(),
        },
        message: message.to_string(),
    };
    let _ = sender.send(HostMessage::Reply(Reply {
        id,
        outcome: Outcome::Error(body),
    }));
}

/// The one writer of stdout: frames only, in order.
async fn write_all<W: AsyncWrite + Unpin>(
    mut receiver: mpsc::UnboundedReceiver<HostMessage>,
    mut closed: tokio::sync::oneshot::Receiver<()>,
    mut output: W,
) -> std::io::Result<()> {
    let mut closing = false;
    loop {
        // Everything already queued is written before the close signal is honoured.
        let message = if closing {
            receiver.try_recv().ok()
        } else {
            tokio::select! {
                biased;
                message = receiver.recv() => message,
                _ = &mut closed => {
                    closing = true;
                    receiver.try_recv().ok()
                }
            }
        };
        let Some(message) = message else { break };
        let body = match serde_json::to_vec(&message) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "could not serialise a message");
                continue;
            }
        };
        match framing::write_frame(&mut output, &body).await {
            Ok(()) => {}
            Err(framing::WriteError::TooLarge(size)) => {
                tracing::error!(size, "reply too large for native messaging");
                if let HostMessage::Reply(Reply { id, .. }) = message {
                    let fallback = HostMessage::Reply(Reply {
                        id,
                        outcome: Outcome::Error(
                            CommandError::Internal("reply too large".into()).to_body(),
                        ),
                    });
                    let body = serde_json::to_vec(&fallback).unwrap_or_default();
                    framing::write_frame(&mut output, &body)
                        .await
                        .map_err(std::io::Error::other)?;
                }
            }
            // The browser has gone: nothing more can be said.
            Err(framing::WriteError::Io(error)) => return Err(error),
        }
    }
    Ok(())
}
