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
    extension: {
        present: false;
    } | {
        present: true;
        version: string;
        bridgeVersion: number;
    };
    /** Absent when the extension is. */
    host?: {
        state: HostState;
        version?: string;
    };
    /** The readers the host sees (empty when the host is not ready). */
    readers: ReaderBrief[];
}
/** Why `open()` (or `requireReady()`) could not go on; `code` is stable, `message` is English for logs. */
export type BridgeErrorCode = "extension-absent" | "bridge-version" | "host-not-installed" | "host-blocked-by-policy" | "host-wrong-version" | "host-no-answer" | "open-refused";
export declare class BridgeError extends Error {
    readonly code: BridgeErrorCode;
    readonly name = "BridgeError";
    constructor(code: BridgeErrorCode, message: string);
}
/** What the library needs of `window`; a test passes its own. */
export interface BridgeWindow {
    readonly location: {
        readonly origin: string;
    };
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
/**
 * Whether the extension and its host are here, and the readers in brief. Never rejects for
 * absence: an extension that does not answer within `timeoutMs` is `{present: false}`.
 */
export declare function status(options?: BridgeOptions): Promise<BridgeStatus>;
/** The error a status stands for, or none when a journey can start. */
export declare function problemOf(found: BridgeStatus): BridgeError | undefined;
/** `status()`, rejecting with the `BridgeError` that stops a journey, if any. */
export declare function requireReady(options?: BridgeOptions): Promise<BridgeStatus>;
/**
 * Opens the extension's guided page for `journey` in this tab (the portal page is replaced;
 * Back returns to it). Call it from the person's click. Rejects with a `BridgeError` when the
 * extension is absent or refuses (this origin is not configured).
 */
export declare function open(journey: Journey, options?: BridgeOptions): Promise<void>;
