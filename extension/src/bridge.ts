// The page bridge (content script): on configured portal origins only, it answers the portal
// page's "is the extension here?" and opens the guided pages. It listens only to this window's
// own messages (not frames, not other windows) and trusts nothing in them but the request.

import browser from "webextension-polyfill";
import { BRIDGE_VERSION, EXTENSION_MESSAGE_SOURCE, PAGE_MESSAGE_SOURCE } from "./lib/constants";

async function main(): Promise<void> {
  // The background decides from the browser's own record of this tab's origin.
  const allowed = (await browser.runtime.sendMessage({ kind: "bridge-allowed" }).catch(() => false)) === true;
  if (!allowed) return;
  // The page library (`page-library/`) matches answers to its questions by `requestId`; it is
  // echoed only when it is a short string, so a page cannot make the extension post anything else.
  const reply = (type: string, requestId: unknown, fields: object): void => {
    const echoed = typeof requestId === "string" && requestId.length <= 64 ? { requestId } : {};
    window.postMessage(
      { source: EXTENSION_MESSAGE_SOURCE, type, bridgeVersion: BRIDGE_VERSION, ...echoed, ...fields },
      window.location.origin,
    );
  };
  const announce = (requestId?: unknown): void => {
    void browser.runtime.sendMessage({ kind: "presence" }).then((answer: unknown) => {
      if (!answer || typeof answer !== "object") return;
      reply("presence", requestId, answer);
    });
  };
  window.addEventListener("message", (event: MessageEvent) => {
    if (event.source !== window || event.origin !== window.location.origin) return;
    const data = event.data as { source?: unknown; type?: unknown; journey?: unknown; requestId?: unknown } | null;
    if (!data || data.source !== PAGE_MESSAGE_SOURCE) return;
    if (data.type === "presence") {
      announce(data.requestId);
    } else if (data.type === "open") {
      const journey = data.journey === "register" || data.journey === "unlock" ? data.journey : undefined;
      const opened = journey
        ? browser.runtime.sendMessage({ kind: "open", journey }).then(
            (ok: unknown) => ok === true,
            () => false,
          )
        : Promise.resolve(false);
      void opened.then((ok) => reply("opened", data.requestId, { journey: journey ?? null, opened: ok }));
    }
  });
  // The page may have asked before this script was ready (it runs at document idle and waits
  // for the background): answer once unasked.
  announce();
}

void main();
