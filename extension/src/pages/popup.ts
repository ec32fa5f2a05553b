// The popup: readers and card at a glance, with the next step for each state.

import browser from "webextension-polyfill";
import { describeHostState, HostUnavailableError } from "../lib/host";
import { formatDate, plural, t } from "../lib/i18n";
import { problemFrom } from "../lib/problems";
import { HostRelay } from "../lib/relay";
import type { CardStatus, HostEvent, StatusResult } from "../lib/rules";
import { button, configProblems, h } from "./ui";
import { startPage } from "./language";

/** Cards expire every 2 years; warn from 30 days before. */
const EXPIRY_WARNING_DAYS = 30;

async function main(): Promise<void> {
  const { config, raContact } = await startPage("extensionName");
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
        error instanceof HostUnavailableError ? describeHostState(error.state) : problemFrom(error, raContact).message;
      status = null;
      main.replaceChildren(
        h("h1", {}, t("extensionName")),
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
    const content: HTMLElement[] = [h("h1", {}, t("extensionName")), ...configProblems(config.problems)];
    if (status.service === "unavailable") {
      content.push(h("p", { id: "service-problem" }, t("popup_service_unavailable")));
    } else if (status.readers.length === 0) {
      content.push(h("p", { id: "no-reader" }, t("popup_no_reader")));
    }
    for (const reader of status.readers) {
      content.push(h("h2", { class: "nhsuk-heading-s" }, reader.name));
      content.push(
        reader.card ? cardSummary(reader.card, raContact, open) : h("p", { class: "no-card" }, t("popup_no_card")),
      );
    }
    content.push(button(t("popup_register"), open("register"), true));
    main.replaceChildren(...content);
  };
  host.onEvent((event: HostEvent) => void refresh("reader" in event ? event.reader : undefined));
  await refresh();
}

function cardSummary(card: CardStatus, raContact: string, open: (page: string) => () => void): HTMLElement {
  const rows: HTMLElement[] = [
    h("p", { class: "holder" }, h("strong", {}, card.holderName ?? t("popup_unknown_holder"))),
    h(
      "p",
      { class: "expiry" },
      t("popup_card_expires", { date: card.expiry ? formatDate(card.expiry) : t("unknown") }),
    ),
  ];
  const days = card.daysLeft;
  if (days !== undefined && days < 0) {
    rows.push(
      h("div", { class: "nhsuk-warning-callout expiry-warning" }, h("p", {}, t("popup_expired", { ra: raContact }))),
    );
  } else if (days !== undefined && days <= EXPIRY_WARNING_DAYS) {
    rows.push(
      h(
        "div",
        { class: "nhsuk-warning-callout expiry-warning" },
        h("p", {}, plural("popup_expires_in", days, { ra: raContact })),
      ),
    );
  }
  if (card.passcode.state === "blocked") {
    rows.push(h("p", { class: "passcode-state" }, t("popup_locked")));
    rows.push(button(t("popup_unlock"), open("unlock")));
  } else if (card.unlockUnfinished === true) {
    rows.push(h("p", { class: "passcode-state", id: "unlock-unfinished" }, t("popup_unfinished")));
    rows.push(button(t("popup_finish_unlock"), open("unlock")));
  } else {
    const left = card.passcode.retriesLeft;
    // No count: the PIN is verified by another program, which hides the card's counter.
    rows.push(
      h("p", { class: "passcode-state" }, left === undefined ? t("popup_usable") : plural("popup_tries_left", left)),
    );
  }
  return h("div", { class: "card-summary" }, ...rows);
}

void main();
