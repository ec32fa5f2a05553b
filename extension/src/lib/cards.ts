// Finding the card to work with, from the host's status.

import type { HostApi } from "./host";
import { HostRequestError } from "./host";
import type { CardStatus, StatusResult } from "./rules";

export interface CardInReader {
  reader: string;
  card: CardStatus;
}

/** The one card present; waits for one (event-driven, in the host) when asked to. */
export async function findCard(host: HostApi, waitForCardMs = 0): Promise<CardInReader> {
  const status = await host.request<StatusResult>({ type: "status" });
  if (status.service === "unavailable") {
    throw new HostRequestError({
      code: "service-unavailable",
      message: "The smartcard service on this computer is not running. Restart the computer; if that does not help, contact your IT service desk.",
    });
  }
  const withCards = status.readers.filter((r) => r.card);
  const [only] = withCards;
  if (withCards.length === 1 && only?.card) return { reader: only.name, card: only.card };
  if (withCards.length > 1) {
    throw new HostRequestError({ code: "multiple-cards", message: "More than one smartcard is inserted. Remove the cards you are not using." });
  }
  if (status.readers.length === 0 && waitForCardMs === 0) {
    throw new HostRequestError({ code: "no-reader", message: "No smartcard reader was found. Check that your reader is plugged in." });
  }
  if (waitForCardMs > 0) {
    return new Promise<CardInReader>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          reject(new HostRequestError({ code: "timeout", message: "No smartcard was inserted in time. Put your smartcard in the reader and try again." }));
        }
      }, waitForCardMs);
      host.onEvent((event) => {
        if (settled || event.event !== "card-inserted") return;
        void findCard(host, 0).then(
          (card) => {
            settled = true;
            clearTimeout(timer);
            resolve(card);
          },
          () => undefined,
        );
      });
    });
  }
  throw new HostRequestError({ code: "no-card", message: "No smartcard was found. Put your smartcard in the reader." });
}
