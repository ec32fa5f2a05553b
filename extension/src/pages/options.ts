// The options page: the effective configuration and where each value came from, the
// language of the pages (the person's choice unless policy sets it), a development override
// for unmanaged machines, and diagnostics of the host and readers.

import browser from "webextension-polyfill";
import { LOCAL_KEY, PREFERENCES_KEY, type ConfigSource } from "../lib/config";
import { describeHostState } from "../lib/host";
import { t, type LanguageChoice } from "../lib/i18n";
import { problemFrom } from "../lib/problems";
import { HostRelay } from "../lib/relay";
import { startPage } from "./language";
import { configProblems, field, form, h, submit } from "./ui";

async function main(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const { config, raContact } = await startPage("options_title");
  // Where a value came from, as IT and staff read it: a policy value is managed, not editable here.
  const SOURCE_LABEL: Record<ConfigSource, string> = {
    policy: t("options_source_policy"),
    "this computer": t("options_source_local"),
    default: t("options_source_default"),
  };
  const LANGUAGE_LABEL: Record<LanguageChoice, string> = {
    auto: t("language_auto"),
    "en-GB": t("language_en"),
    cy: t("language_cy"),
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
    h("h1", {}, t("options_title")),
    ...configProblems(config.problems),
    h("h2", {}, t("options_configuration")),
    h(
      "dl",
      { class: "nhsuk-summary-list", id: "configuration" },
      row(t("options_portal"), config.portalUrl, config.sources.portalUrl),
      row(t("options_allowed_origins"), config.allowedOrigins.join(", "), config.sources.allowedOrigins),
      row(t("options_ra_contact"), raContact, config.sources.raContact),
      row(
        t("options_passcode_policy"),
        config.passcodePolicy ? JSON.stringify(config.passcodePolicy) : t("options_card_rule"),
        config.sources.passcodePolicy,
      ),
      row(t("options_language"), LANGUAGE_LABEL[config.language], config.sources.language),
    ),
  ];
  if (Object.values(config.sources).includes("policy")) {
    content.push(h("p", { id: "managed-note" }, t("options_managed_note")));
  }
  if (config.sources.language !== "policy") {
    content.push(languageChoice(config.language, LANGUAGE_LABEL));
  }
  // On a managed machine a portal saved here would be ignored (IT's origins only): no form.
  if (!config.originsManaged) {
    const portal = field({
      id: "portal-url",
      label: t("options_portal_label"),
      value: config.portalUrl,
      hint: t("options_portal_hint"),
    });
    content.push(
      form(
        async () => {
          await browser.storage.local.set({ [LOCAL_KEY]: { PortalUrl: portal.input.value } });
          window.location.reload();
        },
        portal.group,
        submit(t("save")),
      ),
    );
  }
  const diagnostics = h("div", { id: "diagnostics" }, h("p", {}, t("options_asking")));
  content.push(h("h2", {}, t("options_diagnostics")), diagnostics);
  main.replaceChildren(...content);

  const host = new HostRelay();
  try {
    const status = await host.request({ type: "status" });
    const state = host.state;
    diagnostics.replaceChildren(
      h(
        "p",
        { id: "host-version" },
        state.kind === "ready" ? t("options_host_version", { version: state.version }) : describeHostState(state),
      ),
      h("p", {}, t(status.service === "running" ? "options_pcsc_running" : "options_pcsc_unavailable")),
      h(
        "ul",
        {},
        ...status.readers.map((r) =>
          h(
            "li",
            {},
            r.card
              ? t("options_reader_card", {
                  reader: r.name,
                  holder: r.card.holderName ?? t("unknown"),
                  state: t(
                    r.card.passcode.state === "blocked" ? "options_passcode_blocked" : "options_passcode_usable",
                  ),
                })
              : t("options_reader_no_card", { reader: r.name }),
          ),
        ),
      ),
      h("p", {}, t("options_doctor")),
    );
  } catch (error) {
    diagnostics.replaceChildren(h("p", { id: "host-version" }, problemFrom(error, raContact).message));
  }
}

/** The language radios: saved on this computer, the page reloads in it. */
function languageChoice(current: LanguageChoice, labels: Record<LanguageChoice, string>): HTMLElement {
  const choices: LanguageChoice[] = ["auto", "en-GB", "cy"];
  const radios = choices.map((choice) =>
    h(
      "div",
      { class: "nhsuk-radios__item" },
      h("input", {
        class: "nhsuk-radios__input",
        id: `language-${choice}`,
        name: "language",
        type: "radio",
        value: choice,
        checked: choice === current,
      }),
      h("label", { class: "nhsuk-label nhsuk-radios__label", for: `language-${choice}` }, labels[choice]),
    ),
  );
  return form(
    async () => {
      const chosen = document.querySelector<HTMLInputElement>("input[name=language]:checked")?.value ?? "auto";
      await browser.storage.local.set({ [PREFERENCES_KEY]: { Language: chosen } });
      window.location.reload();
    },
    h(
      "fieldset",
      { class: "nhsuk-fieldset", id: "language-choice", "aria-describedby": "language-hint" },
      h("legend", { class: "nhsuk-fieldset__legend nhsuk-fieldset__legend--m" }, t("options_language")),
      h("div", { class: "nhsuk-hint", id: "language-hint" }, t("options_language_hint")),
      h("div", { class: "nhsuk-radios" }, ...radios),
    ),
    submit(t("save")),
  );
}

void main();
