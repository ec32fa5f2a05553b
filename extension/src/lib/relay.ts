// A page's connection to the host, through the background (which holds one host session per
// journey): requests out, replies matched by a page-side id, events and host state in.
//
// Two id spaces, on purpose. `cid` numbers this page's requests on its port to the background;
// the background's HostSession numbers the requests it sends the host (the protocol's `id`).
// The page never sees host ids: the session belongs to the background, which may reconnect to
// a restarted host and number afresh. Each reply goes back through the promise the background
// made for that `cid` (background.ts), so no table maps one id to the other.

import browser from "webextension-polyfill";
import { HostRequestError, HostUnavailableError, type HostApi, type HostState } from "./host";
import type { Command, CommandResult, ErrorBody, HostEvent, ResultOf } from "./rules";

export type ToBackground = { kind: "request"; cid: number; command: Command };
export type FromBackground =
  | ({ kind: "reply"; cid: number } & ({ result: CommandResult } | { error: ErrorBody } | { unavailable: HostState }))
  | { kind: "event"; event: HostEvent }
  | { kind: "host-state"; state: HostState };

export const JOURNEY_PORT = "journey";

export class HostRelay implements HostApi {
  private port = browser.runtime.connect({ name: JOURNEY_PORT });
  private next = 1;
  private pending = new Map<number, { resolve: (v: CommandResult) => void; reject: (e: Error) => void }>();
  private events: Array<(event: HostEvent) => void> = [];
  private states: Array<(state: HostState) => void> = [];
  state: HostState = { kind: "connecting" };

  constructor() {
    this.port.onMessage.addListener((raw: unknown) => {
      const message = raw as FromBackground;
      if (message.kind === "event") {
        for (const listener of this.events) listener(message.event);
      } else if (message.kind === "host-state") {
        this.state = message.state;
        for (const listener of this.states) listener(message.state);
      } else {
        const pending = this.pending.get(message.cid);
        if (!pending) return;
        this.pending.delete(message.cid);
        if ("error" in message) pending.reject(new HostRequestError(message.error));
        else if ("unavailable" in message) pending.reject(new HostUnavailableError(message.unavailable));
        else pending.resolve(message.result);
      }
    });
  }

  request<C extends Command>(command: C): Promise<ResultOf<C>> {
    const cid = this.next++;
    return new Promise<ResultOf<C>>((resolve, reject) => {
      // The background answers `cid` with the host's result for this command.
      this.pending.set(cid, { resolve: resolve as (v: CommandResult) => void, reject });
      const message: ToBackground = { kind: "request", cid, command };
      this.port.postMessage(message);
    });
  }

  onEvent(listener: (event: HostEvent) => void): void {
    this.events.push(listener);
  }

  onState(listener: (state: HostState) => void): void {
    this.states.push(listener);
  }
}
