// The popup: readers and card at a glance, with the next step for each state.

import browser from "webextension-polyfill";
import { loadConfig } from "../lib/config";
import { describeHostState, HostRequestError, HostUnavailableError } from "../lib/host";
import { HostRelay } from "../lib/relay";
import type { CardStatus, HostEvent, StatusResult } from "../lib/rules";
import { button, h } from "./ui";

/** Cards expire every 2 years; warn from 30 days before. */
const EXPIRY_WARNING_DAYS = 30;

async function main(): Promise<void> {
  const config = await loadConfig(browser.storage);
  const main = document.getElementById("main") as HTMLElement;
  const host = new HostRelay();
  const open = (page: string) => () =>
    void browser.tabs.create({ url: browser.runtime.getURL(`pages/${page}.html`) }).then(() => window.close());
  let status: StatusResult | null = null;
  // The latest refresh asked for each reader ("" for all): an older answer arriving late is
  // not shown over a newer one.
  const latest = new Map<string, number>();
  let asked = 0;
  /** Reads every reader, or only the one an event names (other cards are not read again). */
  const refresh = async (reader?: string): Promise<void> => {
    const key = reader ?? "";
    const mine = ++asked;
    latest.set(key, mine);
    let answer: StatusResult;
    try {
      answer = await host.request({ type: "status", ...(reader === undefined ? {} : { reader }) });
    } catch (error) {
      const message =
        error instanceof HostUnavailableError
          ? describeHostState(error.state)
          : error instanceof HostRequestError
            ? error.message
            : String(error);
      status = null;
      main.replaceChildren(
        h("h1", {}, "Smartcard Self-Service"),
        h("div", { class: "nhsuk-warning-callout", id: "host-problem" }, h("p", {}, message)),
      );
      return;
    }
    if (latest.get(key) !== mine || (reader !== undefined && (latest.get("") ?? 0) > mine)) return;
    if (reader === undefined || status === null) {
      status = answer;
    } else {
      // That reader in its place (appended when new, dropped when gone); the others as shown.
      const [fresh] = answer.readers;
      const known = status.readers.some((r) => r.name === reader);
      const readers = status.readers.flatMap((r) => (r.name === reader ? (fresh ? [fresh] : []) : [r]));
      status = { ...answer, readers: known || !fresh ? readers : [...readers, fresh] };
    }
    render(status);
  };
  const render = (status: StatusResult): void => {
    const content: HTMLElement[] = [h("h1", {}, "Smartcard Self-Service")];
    if (status.service === "unavailable") {
      content.push(
        h(
          "p",
          { id: "service-problem" },
          "The smartcard service on this computer is not running. Restart the computer; if that does not help, contact your IT service desk.",
        ),
      );
    } else if (status.readers.length === 0) {
      content.push(h("p", { id: "no-reader" }, "No smartcard reader is connected. Plug in your reader."));
    }
    for (const reader of status.readers) {
      content.push(h("h2", { class: "nhsuk-heading-s" }, reader.name));
      content.push(
        reader.card
          ? cardSummary(reader.card, config.raContact, open)
          : h("p", { class: "no-card" }, "No smartcard in this reader."),
      );
    }
    content.push(button("Register for self-service", open("register"), true));
    main.replaceChildren(...content);
  };
  host.onEvent((event: HostEvent) => void refresh("reader" in event ? event.reader : undefined));
  await refresh();
}

function cardSummary(card: CardStatus, raContact: string, open: (page: string) => () => void): HTMLElement {
  const rows: HTMLElement[] = [
    h("p", { class: "holder" }, h("strong", {}, card.holderName ?? "Unknown holder")),
    h("p", { class: "expiry" }, `Card expires: ${card.expiry ?? "unknown"}`),
  ];
  const days = card.daysLeft;
  if (days !== undefined && days < 0) {
    rows.push(
      h(
        "div",
        { class: "nhsuk-warning-callout expiry-warning" },
        h("p", {}, `This smartcard has expired. ${raContact}`),
      ),
    );
  } else if (days !== undefined && days <= EXPIRY_WARNING_DAYS) {
    rows.push(
      h(
        "div",
        { class: "nhsuk-warning-callout expiry-warning" },
        h(
          "p",
          {},
          `This smartcard expires in ${days} ${days === 1 ? "day" : "days"}. Arrange a new card with your Sponsor or Registration Authority: ${raContact}`,
        ),
      ),
    );
  }
  if (card.passcode.state === "blocked") {
    rows.push(h("p", { class: "passcode-state" }, "Your smartcard is locked."));
    rows.push(button("Unlock my card", open("unlock")));
  } else {
    const left = card.passcode.retriesLeft;
    rows.push(
      h(
        "p",
        { class: "passcode-state" },
        `Passcode: ${left} ${left === 1 ? "try" : "tries"} left before the card locks.`,
      ),
    );
  }
  return h("div", { class: "card-summary" }, ...rows);
}

void main();
