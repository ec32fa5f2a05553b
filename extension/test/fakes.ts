// Fakes for unit tests of one piece: a native port, a host, a portal.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PortLike, HostApi } from "../src/lib/host";
import { HostRequestError } from "../src/lib/host";
import { PortalClient, type FetchLike } from "../src/lib/portal";
import { loadRulesSync } from "../src/lib/rules";
import { useCatalogue, type Catalogue, type Language, LOCALE_DIR } from "../src/lib/i18n";
import type { Command, ErrorBody, HostEvent, ResultOf } from "../src/lib/rules";

export function loadRulesForTests(): void {
  const wasm = fileURLToPath(new URL("../../../wasm/pkg/selfservice_rules_bg.wasm", import.meta.url));
  loadRulesSync(readFileSync(wasm));
  useCatalogueForTests("en-GB");
}

/** The catalogue as the extension ships it. */
export function catalogueForTests(language: Language): Catalogue {
  const file = fileURLToPath(new URL(`../../static/_locales/${LOCALE_DIR[language]}/messages.json`, import.meta.url));
  return JSON.parse(readFileSync(file, "utf8")) as Catalogue;
}

export function useCatalogueForTests(language: Language): void {
  useCatalogue(language, catalogueForTests(language));
}

export class FakePort implements PortLike {
  sent: unknown[] = [];
  disconnected = false;
  error: { message?: string } | null = null;
  private messageListeners: Array<(m: unknown) => void> = [];
  private disconnectListeners: Array<(p: PortLike) => void> = [];
  onMessage = { addListener: (f: (m: unknown) => void) => void this.messageListeners.push(f) };
  onDisconnect = { addListener: (f: (p: PortLike) => void) => void this.disconnectListeners.push(f) };
  postMessage(message: unknown): void {
    this.sent.push(message);
  }
  disconnect(): void {
    this.disconnected = true;
  }
  /** The host writes a frame. */
  receive(message: unknown): void {
    for (const f of this.messageListeners) f(message);
  }
  /** The browser reports the host gone. */
  drop(error?: string): void {
    this.error = error ? { message: error } : null;
    for (const f of this.disconnectListeners) f(this);
  }
}

/** A host answering from a script: each command type maps to a result or an error body. */
export class FakeHost implements HostApi {
  calls: Command[] = [];
  private listeners: Array<(e: HostEvent) => void> = [];
  constructor(public answers: Record<string, (c: Command) => unknown>) {}
  async request<C extends Command>(command: C): Promise<ResultOf<C>> {
    this.calls.push(command);
    const answer = this.answers[command.type];
    if (!answer) throw new Error(`unexpected ${command.type}`);
    const value = answer(command);
    if (value && typeof value === "object" && "errorBody" in value)
      throw new HostRequestError((value as { errorBody: ErrorBody }).errorBody);
    return value as ResultOf<C>;
  }
  onEvent(listener: (e: HostEvent) => void): void {
    this.listeners.push(listener);
  }
  emit(event: HostEvent): void {
    for (const f of this.listeners) f(event);
  }
}

export function hostError(body: ErrorBody): { errorBody: ErrorBody } {
  return { errorBody: body };
}

/** A portal answering by path; a handler may return [status, body]. */
export function fakePortal(routes: Record<string, (body: any) => unknown>): {
  client: PortalClient;
  calls: Array<{ path: string; body: any }>;
} {
  const calls: Array<{ path: string; body: any }> = [];
  const fetcher: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    const body = JSON.parse(init.body);
    calls.push({ path, body });
    const route = routes[path];
    if (!route)
      return { ok: false, status: 404, json: async () => ({ error: { code: "internal", message: "no route" } }) };
    const answer = route(body);
    if (Array.isArray(answer)) {
      const [status, payload] = answer as [number, unknown];
      return { ok: status < 300, status, json: async () => payload };
    }
    return { ok: true, status: 200, json: async () => answer };
  };
  return { client: new PortalClient("https://portal.test/", fetcher), calls };
}
