// The background: one host session per journey page (relayed over a runtime port), the page
// bridge's questions (answered only for configured portal origins, judged from the sender the
// browser names), and the configuration for the pages.

import browser, { type Runtime } from "webextension-polyfill";
import { HostRequestError, HostSession, HostUnavailableError, type HostState, type PortLike } from "./lib/host";
import { JOURNEY_PORT, type FromBackground, type ToBackground } from "./lib/relay";
import { loadConfig, originOf } from "./lib/config";
import { NATIVE_HOST_NAME } from "./lib/constants";
// The page's side of the bridge defines what a page is told of a reader.
import type { ReaderBrief } from "../../page-library/src/index";

function connectHost(): PortLike {
  return browser.runtime.connectNative(NATIVE_HOST_NAME);
}

/** Chromium's reason for a closed native port. */
function lastError(): string | undefined {
  const chrome = (globalThis as { chrome?: { runtime?: { lastError?: { message?: string } } } }).chrome;
  return chrome?.runtime?.lastError?.message;
}

browser.runtime.onConnect.addListener((port: Runtime.Port) => {
  if (port.name !== JOURNEY_PORT || port.sender?.id !== browser.runtime.id) {
    port.disconnect();
    return;
  }
  const session = new HostSession(connectHost, { lastError });
  const send = (message: FromBackground) => {
    try {
      port.postMessage(message);
    } catch {
      // The page has gone.
    }
  };
  session.onState((state) => send({ kind: "host-state", state }));
  session.onEvent((event) => send({ kind: "event", event }));
  send({ kind: "host-state", state: session.state });
  port.onMessage.addListener((raw: unknown) => {
    const message = raw as ToBackground;
    if (message.kind !== "request") return;
    session.request(message.command).then(
      (result) => send({ kind: "reply", cid: message.cid, result }),
      (error: unknown) => {
        if (error instanceof HostRequestError) send({ kind: "reply", cid: message.cid, error: error.body });
        else if (error instanceof HostUnavailableError)
          send({ kind: "reply", cid: message.cid, unavailable: error.state });
        else send({ kind: "reply", cid: message.cid, error: { code: "internal", message: String(error) } });
      },
    );
  });
  port.onDisconnect.addListener(() => session.close());
});

export type BridgeQuestion =
  { kind: "bridge-allowed" } | { kind: "presence" } | { kind: "open"; journey: "register" | "unlock" };

async function senderAllowed(sender: Runtime.MessageSender): Promise<boolean> {
  // The origin comes from the browser's account of the sender, never from page data.
  const origin = (sender as { origin?: string }).origin ?? originOf(sender.url ?? "");
  if (!sender.tab || sender.frameId !== 0 || !origin) return false;
  const config = await loadConfig(browser.storage);
  return config.allowedOrigins.includes(origin);
}

/** What the portal page learns of the host: whether it answers, and if not, why not. */
interface HostPresence {
  installed: boolean;
  version?: string;
  /** The host connection's state: `ready`, `not-installed`, `blocked-by-policy`, `wrong-version`, or `no-answer`. */
  state: HostState["kind"] | "no-answer";
}

/** Whether the host answers, and the readers in brief, for the portal page's "is it here?" question. */
async function hostPresence(): Promise<{ host: HostPresence; readers: ReaderBrief[] }> {
  const session = new HostSession(connectHost, { retryDelaysMs: [60000], helloTimeoutMs: 3000, lastError });
  const timeout = <T>(ms: number) =>
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error("no answer")), ms));
  try {
    await Promise.race([session.ready(), timeout(3500)]);
    // ready() resolves only once the host has said hello with our protocol.
    const version = session.state.kind === "ready" ? session.state.version : undefined;
    const host: HostPresence = { installed: true, state: "ready", ...(version ? { version } : {}) };
    // Nothing of the card but whether it is there and locked: no name, number or holder.
    const readers = await Promise.race([session.request({ type: "status" }), timeout<never>(3000)]).then(
      (status) =>
        status.readers.map((reader): ReaderBrief => {
          const card = !reader.card ? "none" : reader.card.passcode.state === "blocked" ? "locked" : "ready";
          return { name: reader.name, card };
        }),
      () => [],
    );
    return { host, readers };
  } catch {
    const kind = session.state.kind;
    return {
      host: { installed: false, state: kind === "connecting" || kind === "disconnected" ? "no-answer" : kind },
      readers: [],
    };
  } finally {
    session.close();
  }
}

browser.runtime.onMessage.addListener((raw: unknown, sender: Runtime.MessageSender) => {
  const question = raw as BridgeQuestion;
  if (sender.id !== browser.runtime.id) return undefined;
  switch (question.kind) {
    case "bridge-allowed":
      return senderAllowed(sender);
    case "presence":
      return senderAllowed(sender).then(async (allowed) =>
        allowed ? { version: browser.runtime.getManifest().version, ...(await hostPresence()) } : null,
      );
    case "open":
      return senderAllowed(sender).then(async (allowed) => {
        if (!allowed || (question.journey !== "register" && question.journey !== "unlock")) return false;
        // The guided page takes the portal page's place in its tab; Back returns to the portal.
        // `#start`: the person pressed Start on the portal already, so the page does not ask again.
        const url = browser.runtime.getURL(`pages/${question.journey}.html#start`);
        if (sender.tab?.id !== undefined) await browser.tabs.update(sender.tab.id, { url });
        else await browser.tabs.create({ url });
        return true;
      });
    default:
      return undefined;
  }
});
