// For portal pages: is the Smartcard Self-Service extension here, can it reach its host and a
// card, and open the register or unlock journey. The extension's content script answers only
// on the origins IT configured for it; to a page anywhere else it is simply absent.
//
// Everything travels by `window.postMessage` to and from this window's own origin. The page
// never sees a passcode, a card secret or a host message: only the brief status below.

import { BRIDGE_VERSION, EXTENSION_MESSAGE_SOURCE, PAGE_MESSAGE_SOURCE } from "./protocol.js";

export { BRIDGE_VERSION } from "./protocol.js";

/** The two journeys a portal page can open. */
export type Journey = "register" | "unlock";

/**
 * The host as the extension found it:
 * - `ready`: installed, answering, same protocol;
 * - `not-installed`: the browser has no host registered under this name (IT installs the MSI/.deb/.rpm);
 * - `blocked-by-policy`: a browser policy refuses native-messaging hosts or this one;
 * - `wrong-version`: installed but speaks another protocol version (update the host or the extension);
 * - `no-answer`: started but did not answer in time.
 */
export type HostState = "ready" | "not-installed" | "blocked-by-policy" | "wrong-version" | "no-answer";

/** One card reader, in brief: no card, a card that can be used, or a card whose passcode is blocked. */
export interface ReaderBrief {
  name: string;
  card: "none" | "ready" | "locked";
}

/** What `status()` found. */
export interface BridgeStatus {
  /** `present: false` when nothing answered: no extension, or this origin is not one IT configured for it. */
  extension: { present: false } | { present: true; version: string; bridgeVersion: number };
  /** Absent when the extension is. */
  host?: { state: HostState; version?: string };
  /** The readers the host sees (empty when the host is not ready). */
  readers: ReaderBrief[];
}

/** Why `open()` (or `requireReady()`) could not go on; `code` is stable, `message` is English for logs. */
export type BridgeErrorCode =
  | "extension-absent"
  | "bridge-version"
  | "host-not-installed"
  | "host-blocked-by-policy"
  | "host-wrong-version"
  | "host-no-answer"
  | "open-refused";

export class BridgeError extends Error {
  override readonly name = "BridgeError";
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What the library needs of `window`; a test passes its own. */
export interface BridgeWindow {
  readonly location: { readonly origin: string };
  postMessage(message: unknown, targetOrigin: string): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

export interface BridgeOptions {
  /** How long to wait for the extension to answer (default 5000 ms: the host is started to answer). */
  timeoutMs?: number;
  /** The window to talk through (default: `window`). */
  target?: BridgeWindow;
}

const DEFAULT_TIMEOUT_MS = 5000;

let nextRequest = 0;
function requestId(): string {
  nextRequest += 1;
  return `${Date.now().toString(36)}-${nextRequest}`;
}

type Answer = Record<string, unknown> & { type: string };

/**
 * Sends one request and waits for the extension's answer of `answerType` to it. Answers are
 * taken only from this window and origin; `acceptUnasked` also takes an answer without a
 * request id (the extension announces its presence once when the page loads).
 */
function ask(
  target: BridgeWindow,
  request: Record<string, unknown>,
  answerType: string,
  timeoutMs: number,
  acceptUnasked: boolean,
): Promise<Answer | undefined> {
  const id = requestId();
  return new Promise((resolve) => {
    const listener = (event: MessageEvent): void => {
      if (event.source !== (target as unknown) || event.origin !== target.location.origin) return;
      const data = event.data as Record<string, unknown> | null;
      if (!data || typeof data !== "object" || data["source"] !== EXTENSION_MESSAGE_SOURCE) return;
      if (data["type"] !== answerType) return;
      const answeredId = data["requestId"];
      if (answeredId !== id && !(acceptUnasked && answeredId === undefined)) return;
      finish(data as Answer);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (answer: Answer | undefined): void => {
      clearTimeout(timer);
      target.removeEventListener("message", listener);
      resolve(answer);
    };
    target.addEventListener("message", listener);
    target.postMessage({ source: PAGE_MESSAGE_SOURCE, requestId: id, ...request }, target.location.origin);
  });
}

const HOST_STATES: readonly HostState[] = ["ready", "not-installed", "blocked-by-policy", "wrong-version", "no-answer"];
const CARD_STATES: readonly ReaderBrief["card"][] = ["none", "ready", "locked"];

function readersOf(value: unknown): ReaderBrief[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((reader: unknown) => {
    const { name, card } = (reader ?? {}) as { name?: unknown; card?: unknown };
    if (typeof name !== "string" || !CARD_STATES.includes(card as ReaderBrief["card"])) return [];
    return [{ name, card: card as ReaderBrief["card"] }];
  });
}

/**
 * Whether the extension and its host are here, and the readers in brief. Never rejects for
 * absence: an extension that does not answer within `timeoutMs` is `{present: false}`.
 */
export async function status(options: BridgeOptions = {}): Promise<BridgeStatus> {
  const target = options.target ?? window;
  const answer = await ask(target, { type: "presence" }, "presence", options.timeoutMs ?? DEFAULT_TIMEOUT_MS, true);
  if (!answer) return { extension: { present: false }, readers: [] };
  const host = (answer["host"] ?? {}) as { state?: unknown; version?: unknown };
  const state: HostState = HOST_STATES.includes(host.state as HostState) ? (host.state as HostState) : "no-answer";
  return {
    extension: {
      present: true,
      version: typeof answer["version"] === "string" ? answer["version"] : "",
      // Extensions from before the bridge carried a version spoke version 1.
      bridgeVersion: typeof answer["bridgeVersion"] === "number" ? answer["bridgeVersion"] : 1,
    },
    host: {
      state,
      ...(typeof host.version === "string" ? { version: host.version } : {}),
    },
    readers: state === "ready" ? readersOf(answer["readers"]) : [],
  };
}

/** The error a status stands for, or none when a journey can start. */
export function problemOf(found: BridgeStatus): BridgeError | undefined {
  if (!found.extension.present) {
    return new BridgeError(
      "extension-absent",
      "The Smartcard Self-Service extension did not answer: it is not installed in this browser, or not set up for this site.",
    );
  }
  if (found.extension.bridgeVersion !== BRIDGE_VERSION) {
    return new BridgeError(
      "bridge-version",
      `The extension speaks page bridge version ${found.extension.bridgeVersion}; this page library speaks ${BRIDGE_VERSION}.`,
    );
  }
  switch (found.host?.state) {
    case "ready":
      return undefined;
    case "not-installed":
      return new BridgeError(
        "host-not-installed",
        "The Smartcard Self-Service host is not installed on this computer.",
      );
    case "blocked-by-policy":
      return new BridgeError(
        "host-blocked-by-policy",
        "A browser policy does not allow the Smartcard Self-Service host.",
      );
    case "wrong-version":
      return new BridgeError(
        "host-wrong-version",
        "The Smartcard Self-Service host and extension are different versions.",
      );
    default:
      return new BridgeError("host-no-answer", "The Smartcard Self-Service host did not answer.");
  }
}

/** `status()`, rejecting with the `BridgeError` that stops a journey, if any. */
export async function requireReady(options: BridgeOptions = {}): Promise<BridgeStatus> {
  const found = await status(options);
  const problem = problemOf(found);
  if (problem) throw problem;
  return found;
}

/**
 * Opens the extension's guided page for `journey` in this tab (the portal page is replaced;
 * Back returns to it). Call it from the person's click. Rejects with a `BridgeError` when the
 * extension is absent or refuses (this origin is not configured).
 */
export async function open(journey: Journey, options: BridgeOptions = {}): Promise<void> {
  if (journey !== "register" && journey !== "unlock") {
    throw new BridgeError("open-refused", `There is no journey called ${String(journey)}.`);
  }
  const target = options.target ?? window;
  const answer = await ask(target, { type: "open", journey }, "opened", options.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
  if (!answer) {
    throw new BridgeError("extension-absent", "The Smartcard Self-Service extension did not answer.");
  }
  if (answer["opened"] !== true) {
    throw new BridgeError("open-refused", `The extension did not open the ${journey} journey for this site.`);
  }
}
