// The options page: the effective configuration and where each value came from, a
// development override for unmanaged machines, and diagnostics of the host and readers.

import browser from "webextension-polyfill";
import { loadConfig, LOCAL_KEY, type ConfigSource } from "../lib/config";
import { describeHostState } from "../lib/host";
import { HostRelay } from "../lib/relay";
import { field, form, h, submit } from "./ui";

async function main(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const config = await loadConfig(browser.storage);
  // Where a value came from, as IT and staff read it: a policy value is managed, not editable here.
  const SOURCE_LABEL: Record<ConfigSource, string> = {
    policy: "Managed by your organisation",
    "this computer": "Set on this computer",
    default: "Default",
  };
  const row = (key: string, value: string, source: ConfigSource) =>
    h(
      "div",
      { class: "nhsuk-summary-list__row" },
      h("dt", { class: "nhsuk-summary-list__key" }, key),
      h("dd", { class: "nhsuk-summary-list__value" }, value),
      h("dd", { class: "nhsuk-summary-list__actions config-source", "data-source": source }, SOURCE_LABEL[source]),
    );
  const content: HTMLElement[] = [
    h("h1", {}, "Smartcard Self-Service settings"),
    h("h2", {}, "Configuration"),
    h(
      "dl",
      { class: "nhsuk-summary-list", id: "configuration" },
      row("Portal", config.portalUrl, config.sources.portalUrl),
      row("Allowed portal origins", config.allowedOrigins.join(", "), config.sources.allowedOrigins),
      row("Registration Authority contact", config.raContact, config.sources.raContact),
      row(
        "Passcode policy",
        config.passcodePolicy ? JSON.stringify(config.passcodePolicy) : "The card's own rule",
        config.sources.passcodePolicy,
      ),
    ),
  ];
  if (Object.values(config.sources).includes("policy")) {
    content.push(
      h(
        "p",
        { id: "managed-note" },
        "Your organisation manages these settings by policy: they cannot be changed here. Ask your IT service desk if one is wrong.",
      ),
    );
  }
  if (config.sources.portalUrl !== "policy") {
    const portal = field({
      id: "portal-url",
      label: "Portal address on this computer (development)",
      value: config.portalUrl,
      hint: "IT normally sets this by policy; a policy value always wins.",
    });
    content.push(
      form(
        async () => {
          await browser.storage.local.set({ [LOCAL_KEY]: { PortalUrl: portal.input.value } });
          window.location.reload();
        },
        portal.group,
        submit("Save"),
      ),
    );
  }
  const diagnostics = h("div", { id: "diagnostics" }, h("p", {}, "Asking the smartcard software..."));
  content.push(h("h2", {}, "Diagnostics"), diagnostics);
  main.replaceChildren(...content);

  const host = new HostRelay();
  try {
    const status = await host.request({ type: "status" });
    const state = host.state;
    diagnostics.replaceChildren(
      h(
        "p",
        { id: "host-version" },
        state.kind === "ready" ? `Smartcard software version ${state.version}` : describeHostState(state),
      ),
      h("p", {}, `PC/SC service: ${status.service}`),
      h(
        "ul",
        {},
        ...status.readers.map((r) =>
          h(
            "li",
            {},
            `${r.name}: ${r.card ? `card of ${r.card.holderName ?? "unknown"} (${r.card.passcode.state})` : "no card"}`,
          ),
        ),
      ),
      h("p", {}, "For a full check of this computer, IT can run: smartcard-selfservice doctor"),
    );
  } catch (error) {
    diagnostics.replaceChildren(h("p", { id: "host-version" }, error instanceof Error ? error.message : String(error)));
  }
}

void main();
