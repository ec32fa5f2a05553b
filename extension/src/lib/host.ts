// The connection to the native host for one journey: handshake, protocol check, replies
// matched by id, events passed on, reconnect with backoff, and a clear state when the host is
// not installed or speaks another protocol version.

import type { Command, CommandResult, ErrorBody, Hello, HostEvent, HostMessage, ResultOf } from "./rules";
import { NATIVE_HOST_NAME, PROTOCOL_VERSION } from "./constants";
import { t } from "./i18n";

/** The part of a runtime.Port this class uses (a fake one in tests). */
export interface PortLike {
  postMessage(message: unknown): void;
  disconnect(): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
  onDisconnect: { addListener(listener: (port: PortLike) => void): void };
  error?: { message?: string } | null;
}

/** What journeys need of the host (the session itself, or the page's relay to it). */
export interface HostApi {
  /** Sends a command; resolves with that command's result type (`CommandResults`). */
  request<C extends Command>(command: C): Promise<ResultOf<C>>;
  onEvent(listener: (event: HostEvent) => void): void;
}

export type HostState =
  | { kind: "connecting" }
  | { kind: "ready"; version: string; capabilities: string[] }
  | { kind: "not-installed"; detail: string }
  | { kind: "blocked-by-policy"; detail: string }
  | { kind: "wrong-version"; protocol: number; version: string }
  | { kind: "disconnected"; detail: string; retryInMs: number };

/** A typed error reply from the host. */
export class HostRequestError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
    this.name = "HostRequestError";
  }
  get code(): string {
    return this.body.code;
  }
}

/** The host could not be reached at all (not installed, wrong version, gone). */
export class HostUnavailableError extends Error {
  constructor(readonly state: HostState) {
    // For logs; pages say it with describeHostState.
    super(`the host is ${state.kind}`);
    this.name = "HostUnavailableError";
  }
}

/** The host connection's state, in the page's language. */
export function describeHostState(state: HostState): string {
  switch (state.kind) {
    case "connecting":
      return t("host_connecting");
    case "ready":
      return t("host_ready", { version: state.version });
    case "not-installed":
      return t("host_not_installed");
    case "blocked-by-policy":
      return t("host_blocked_by_policy", { host: NATIVE_HOST_NAME });
    case "wrong-version":
      return t("host_wrong_version", { version: state.version });
    case "disconnected":
      return t("host_disconnected");
  }
}

/** Browser error texts for a host that is not registered (Chromium, then Firefox). */
const NOT_INSTALLED = [/not found/i, /no such native application/i, /forbidden/i, /not allowed/i];
/** Chromium's text when NativeMessagingBlocklist (without our host in the allowlist) refuses it. */
const BLOCKED_BY_POLICY = [/disabled by the system administrator/i];

type Pending = { resolve: (value: CommandResult) => void; reject: (error: Error) => void };

export interface HostSessionOptions {
  /** Waits between reconnection attempts; the last one repeats. */
  retryDelaysMs?: number[];
  helloTimeoutMs?: number;
  setTimer?: (f: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Chromium reports why a native port closed in runtime.lastError, not on the port. */
  lastError?: () => string | undefined;
}

export class HostSession implements HostApi {
  state: HostState = { kind: "connecting" };
  private port: PortLike | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private eventListeners: Array<(event: HostEvent) => void> = [];
  private stateListeners: Array<(state: HostState) => void> = [];
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private attempt = 0;
  private closed = false;
  private timer: unknown = null;
  private readonly retryDelays: number[];
  private readonly helloTimeout: number;
  private readonly setTimer: (f: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly lastError: () => string | undefined;

  constructor(
    private readonly connect: () => PortLike,
    options: HostSessionOptions = {},
  ) {
    this.retryDelays = options.retryDelaysMs ?? [500, 1000, 2000, 5000];
    this.helloTimeout = options.helloTimeoutMs ?? 5000;
    this.setTimer = options.setTimer ?? ((f, ms) => setTimeout(f, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.lastError = options.lastError ?? (() => undefined);
    this.open();
  }

  onEvent(listener: (event: HostEvent) => void): void {
    this.eventListeners.push(listener);
  }

  onState(listener: (state: HostState) => void): void {
    this.stateListeners.push(listener);
  }

  /** Resolves once the host has said hello with our protocol; rejects if it cannot. */
  ready(): Promise<void> {
    if (this.state.kind === "ready") return Promise.resolve();
    if (
      this.state.kind === "not-installed" ||
      this.state.kind === "blocked-by-policy" ||
      this.state.kind === "wrong-version"
    ) {
      return Promise.reject(new HostUnavailableError(this.state));
    }
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Sends a command; resolves with its result or rejects with its typed error. */
  async request<C extends Command>(command: C): Promise<ResultOf<C>> {
    await this.ready();
    const port = this.port;
    if (!port) throw new HostUnavailableError(this.state);
    const id = this.nextId++;
    return new Promise<ResultOf<C>>((resolve, reject) => {
      // The host answers request `id` with the result of this command's type.
      this.pending.set(id, { resolve: resolve as (v: CommandResult) => void, reject });
      port.postMessage({ id, ...command });
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.port?.disconnect();
    this.port = null;
    this.failPending(new HostUnavailableError({ kind: "disconnected", detail: "closed", retryInMs: 0 }));
  }

  private setState(state: HostState): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
    if (state.kind === "ready") {
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    } else if (state.kind !== "connecting") {
      // Not installed, wrong version, or lost: whoever waits is told now, not left hanging.
      for (const waiter of this.readyWaiters.splice(0)) waiter.reject(new HostUnavailableError(state));
    }
  }

  private open(): void {
    if (this.closed) return;
    this.setState({ kind: "connecting" });
    let port: PortLike;
    try {
      port = this.connect();
    } catch (error) {
      this.setState({ kind: "not-installed", detail: String(error) });
      return;
    }
    this.port = port;
    let greeted = false;
    const helloTimer = this.setTimer(() => {
      if (!greeted && this.port === port) {
        port.disconnect();
        this.lost(port, "the host did not say hello");
      }
    }, this.helloTimeout);
    port.onMessage.addListener((raw) => {
      const message = raw as HostMessage;
      if (!greeted) {
        const hello = message as Hello;
        if (hello.type !== "hello") return;
        greeted = true;
        this.clearTimer(helloTimer);
        if (hello.protocol !== PROTOCOL_VERSION) {
          this.port = null;
          port.disconnect();
          this.setState({ kind: "wrong-version", protocol: hello.protocol, version: hello.version });
          this.failPending(new HostUnavailableError(this.state));
          return;
        }
        this.attempt = 0;
        this.setState({ kind: "ready", version: hello.version, capabilities: hello.capabilities });
        return;
      }
      this.dispatch(message);
    });
    port.onDisconnect.addListener((gone) => {
      this.clearTimer(helloTimer);
      const detail = gone.error?.message ?? port.error?.message ?? this.lastError() ?? "the host closed the connection";
      // Retrying cannot help either of these: say so at once rather than reconnect for ever.
      if (!greeted && BLOCKED_BY_POLICY.some((pattern) => pattern.test(detail))) {
        this.port = null;
        this.setState({ kind: "blocked-by-policy", detail });
        this.failPending(new HostUnavailableError(this.state));
        return;
      }
      if (!greeted && NOT_INSTALLED.some((pattern) => pattern.test(detail))) {
        this.port = null;
        this.setState({ kind: "not-installed", detail });
        this.failPending(new HostUnavailableError(this.state));
        return;
      }
      this.lost(port, detail);
    });
  }

  private lost(port: PortLike, detail: string): void {
    if (this.port !== port) return;
    this.port = null;
    const retryInMs = this.retryDelays[Math.min(this.attempt, this.retryDelays.length - 1)] ?? 5000;
    this.attempt += 1;
    this.setState({ kind: "disconnected", detail, retryInMs });
    this.failPending(new HostUnavailableError(this.state));
    if (!this.closed) this.timer = this.setTimer(() => this.open(), retryInMs);
  }

  private dispatch(message: HostMessage): void {
    if ("type" in message && message.type === "event") {
      for (const listener of this.eventListeners) listener(message);
      return;
    }
    if (!("id" in message)) return;
    const id = message.id;
    const pending = id === null ? undefined : this.pending.get(id);
    if (!pending || id === null) return;
    this.pending.delete(id);
    if ("error" in message) pending.reject(new HostRequestError(message.error));
    else pending.resolve(message.result);
  }

  private failPending(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(error);
  }
}
