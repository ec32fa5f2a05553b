// The card a journey works with. The host chooses it, as it does for every card command (the
// reader asked for, or the only card present), and waits for one when asked to; its errors
// (no-reader, no-card, multiple-cards, timeout, service-unavailable) arrive typed like any
// other host error, so the pages hold no second copy of the choice or its sentences.

import type { HostApi } from "./host";
import type { CardInReader } from "./rules";

export type { CardInReader };

export function findCard(host: HostApi, waitForCardMs = 0): Promise<CardInReader> {
  return host.request({ type: "find-card", ...(waitForCardMs > 0 ? { waitForCardMs } : {}) });
}
