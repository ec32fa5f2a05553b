// For portal pages: is the Smartcard Self-Service extension here, can it reach its host and a
// card, and open the register or unlock journey. The extension's content script answers only
// on the origins IT configured for it; to a page anywhere else it is simply absent.
//
// Everything travels by `window.postMessage` to and from this window's own origin. The page
// never sees a passcode, a card secret or a host message: only the brief status below.
import { BRIDGE_VERSION, EXTENSION_MESSAGE_SOURCE, PAGE_MESSAGE_SOURCE } from "./protocol.js";
export { BRIDGE_VERSION } from "./protocol.js";
export class BridgeError extends Error {
    constructor(code, message) {
        super(message);
        this.code = code;
        this.name = "BridgeError";
    }
}
const DEFAULT_TIMEOUT_MS = 5000;
let nextRequest = 0;
function requestId() {
    nextRequest += 1;
    return `${Date.now().toString(36)}-${nextRequest}`;
}
/**
 * Sends one request and waits for the extension's answer of `answerType` to it. Answers are
 * taken only from this window and origin; `acceptUnasked` also takes an answer without a
 * request id (the extension announces its presence once when the page loads).
 */
function ask(target, request, answerType, timeoutMs, acceptUnasked) {
    const id = requestId();
    return new Promise((resolve) => {
        const listener = (event) => {
            if (event.source !== target || event.origin !== target.location.origin)
                return;
            const data = event.data;
            if (!data || typeof data !== "object" || data["source"] !== EXTENSION_MESSAGE_SOURCE)
                return;
            if (data["type"] !== answerType)
                return;
            const answeredId = data["requestId"];
            if (answeredId !== id && !(acceptUnasked && answeredId === undefined))
                return;
            finish(data);
        };
        const timer = setTimeout(() => finish(undefined), timeoutMs);
        const finish = (answer) => {
            clearTimeout(timer);
            target.removeEventListener("message", listener);
            resolve(answer);
        };
        target.addEventListener("message", listener);
        target.postMessage({ source: PAGE_MESSAGE_SOURCE, requestId: id, ...request }, target.location.origin);
    });
}
const HOST_STATES = ["ready", "not-installed", "blocked-by-policy", "wrong-version", "no-answer"];
const CARD_STATES = ["none", "ready", "locked"];
function readersOf(value) {
    if (!Array.isArray(value))
        return [];
    return value.flatMap((reader) => {
        const { name, card } = (reader ?? {});
        if (typeof name !== "string" || !CARD_STATES.includes(card))
            return [];
        return [{ name, card: card }];
    });
}
/**
 * Whether the extension and its host are here, and the readers in brief. Never rejects for
 * absence: an extension that does not answer within `timeoutMs` is `{present: false}`.
 */
export async function status(options = {}) {
    const target = options.target ?? window;
    const answer = await ask(target, { type: "presence" }, "presence", options.timeoutMs ?? DEFAULT_TIMEOUT_MS, true);
    if (!answer)
        return { extension: { present: false }, readers: [] };
    const host = (answer["host"] ?? {});
    const state = HOST_STATES.includes(host.state) ? host.state : "no-answer";
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
export function problemOf(found) {
    if (!found.extension.present) {
        return new BridgeError("extension-absent", "The Smartcard Self-Service extension did not answer: it is not installed in this browser, or not set up for this site.");
    }
    if (found.extension.bridgeVersion !== BRIDGE_VERSION) {
        return new BridgeError("bridge-version", `The extension speaks page bridge version ${found.extension.bridgeVersion}; this page library speaks ${BRIDGE_VERSION}.`);
    }
    switch (found.host?.state) {
        case "ready":
            return undefined;
        case "not-installed":
            return new BridgeError("host-not-installed", "The Smartcard Self-Service host is not installed on this computer.");
        case "blocked-by-policy":
            return new BridgeError("host-blocked-by-policy", "A browser policy does not allow the Smartcard Self-Service host.");
        case "wrong-version":
            return new BridgeError("host-wrong-version", "The Smartcard Self-Service host and extension are different versions.");
        default:
            return new BridgeError("host-no-answer", "The Smartcard Self-Service host did not answer.");
    }
}
/** `status()`, rejecting with the `BridgeError` that stops a journey, if any. */
export async function requireReady(options = {}) {
    const found = await status(options);
    const problem = problemOf(found);
    if (problem)
        throw problem;
    return found;
}
/**
 * Opens the extension's guided page for `journey` in this tab (the portal page is replaced;
 * Back returns to it). Call it from the person's click. Rejects with a `BridgeError` when the
 * extension is absent or refuses (this origin is not configured).
 */
export async function open(journey, options = {}) {
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
