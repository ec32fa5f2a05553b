// Every page starts here: the configuration, then the language (policy, else the person's
// choice on the options page, else the browser's UI language) and its catalogue, then the
// page shell's own words and `lang` attribute in that language.

import browser from "webextension-polyfill";
import { loadConfig, type EffectiveConfig } from "../lib/config";
import { chooseLanguage, loadCatalogue, t } from "../lib/i18n";

export interface PageStart {
  config: EffectiveConfig;
  /** The Registration Authority contact: IT's text, else the catalogue's default. */
  raContact: string;
}

export async function startPage(titleKey: string): Promise<PageStart> {
  const config = await loadConfig(browser.storage);
  // The configuration has already put policy before the person's choice.
  const language = chooseLanguage(config.language, undefined, browser.i18n.getUILanguage());
  await loadCatalogue(language, (path) => browser.runtime.getURL(path));
  document.documentElement.lang = language;
  document.title = t("page_title", { title: t(titleKey) });
  const skip = document.querySelector(".nhsuk-skip-link");
  if (skip) skip.textContent = t("skip_to_main");
  const service = document.querySelector(".app-service-name");
  if (service) service.textContent = t("extensionName");
  const loading = document.querySelector("#main > p");
  if (loading) loading.textContent = t("loading");
  return { config, raContact: config.raContact || t("ra_contact_default") };
}
