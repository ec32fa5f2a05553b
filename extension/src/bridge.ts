// The page bridge (content script): on configured portal origins only, it answers the portal
// page's "is the extension here?" and opens the guided pages. It listens only to this window's
// own messages (not frames, not other windows) and trusts nothing in them but the request.

import browser from "webextension-polyfill";
import { EXTENSION_MESSAGE_SOURCE, PAGE_MESSAGE_SOURCE } from "./lib/constants";

async function main(): Promise<void> {
  // The background decides from the browser's own record of this tab's origin.
  const allowed = (await browser.runtime.sendMessage({ kind: "bridge-allowed" }).catch(() => false)) === true;
  if (!allowed) return;
  const announce = (): void => {
    void browser.runtime.sendMessage({ kind: "presence" }).then((answer: unknown) => {
      if (!answer) return;
      window.postMessage({ source: EXTENSION_MESSAGE_SOURCE, type: "presence", ...answer }, window.location.origin);
    });
  };
  window.addEventListener("message", (event: MessageEvent) => {
    if (event.source !== window || event.origin !== window.location.origin) return;
    const data = event.data as { source?: unknown; type?: unknown; journey?: unknown } | null;
    if (!data || data.source !== PAGE_MESSAGE_SOURCE) return;
    if (data.type === "presence") {
      announce();
    } else if (data.type === "open" && (data.journey === "register" || data.journey === "unlock")) {
      void browser.runtime.sendMessage({ kind: "open", journey: data.journey });
    }
  });
  // The page may have asked before this script was ready (it runs at document idle and waits
  // for the background): answer once unasked.
  announce();
}

void main();
