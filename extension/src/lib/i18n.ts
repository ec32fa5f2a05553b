// Every sentence the person reads comes from a catalogue: `_locales/<locale>/messages.json`
// (en_GB and cy, the same keys; the browser's own format, so the manifest's name and
// description use them too). Pages load one catalogue at start; the language is the
// organisation's (policy `Language`), else the person's choice on the options page, else the
// browser's UI language. Values go in by name (`{count}`); plurals choose `key_<category>` with
// Intl.PluralRules (Welsh has zero, one, two, few, many and other); dates use Intl.

/** The languages there is a catalogue for, as BCP 47 tags (the `lang` attribute). */
export const LANGUAGES = ["en-GB", "cy"] as const;
export type Language = (typeof LANGUAGES)[number];
/** A language setting: one of the languages, or `auto` (the browser's UI language). */
export type LanguageChoice = Language | "auto";

/** The `_locales` folder of each language. */
export const LOCALE_DIR: Record<Language, string> = { "en-GB": "en_GB", cy: "cy" };

export type Catalogue = Record<string, { message: string; description?: string }>;
export type Values = Record<string, string | number>;

let language: Language = "en-GB";
let catalogue: Catalogue = {};
// Numbers as the language writes them, without grouping (a year is 2027, not 2,027).
let numbers = new Intl.NumberFormat(language, { useGrouping: false });

/** The language a browser UI language stands for: Welsh for `cy` and `cy-*`, else English. */
export function languageFor(uiLanguage: string | undefined): Language {
  return uiLanguage?.toLowerCase().split(/[-_]/)[0] === "cy" ? "cy" : "en-GB";
}

/** Which language to use: a policy value, else the person's choice, else the browser's. */
export function chooseLanguage(
  policy: LanguageChoice | undefined,
  chosen: LanguageChoice | undefined,
  uiLanguage: string | undefined,
): Language {
  for (const choice of [policy, chosen]) {
    if (choice && choice !== "auto" && (LANGUAGES as readonly string[]).includes(choice)) return choice;
  }
  return languageFor(uiLanguage);
}

/** Uses `messages` for `lang` from now on (pages after loading; tests directly). */
export function useCatalogue(lang: Language, messages: Catalogue): void {
  language = lang;
  catalogue = messages;
  numbers = new Intl.NumberFormat(lang, { useGrouping: false });
}

export function currentLanguage(): Language {
  return language;
}

function fill(template: string, values: Values | undefined): string {
  if (!values) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in values ? String(typeof values[name] === "number" ? numbers.format(values[name]) : values[name]) : whole,
  );
}

/** The sentence for `key` with `values` filled in. A missing key shows itself (and tests fail on it). */
export function t(key: string, values?: Values): string {
  const entry = catalogue[key];
  return entry ? fill(entry.message, values) : key;
}

/** The sentence for `count` of something: `key_<plural category>`, else `key_other`. */
export function plural(key: string, count: number, values?: Values): string {
  const category = new Intl.PluralRules(language).select(count);
  const chosen = catalogue[`${key}_${category}`] ? `${key}_${category}` : `${key}_other`;
  return t(chosen, { count, ...values });
}

/** A calendar date (`YYYY-MM-DD`, as the host reports card expiry) in the page's language. */
export function formatDate(isoDate: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate);
  if (!match) return isoDate;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return new Intl.DateTimeFormat(language, { dateStyle: "long", timeZone: "UTC" }).format(date);
}

/** A list (`a, b and c`) in the page's language. */
export function formatList(items: string[]): string {
  return new Intl.ListFormat(language, { style: "long", type: "conjunction" }).format(items);
}

/** Minutes and seconds left, e.g. "14 minutes 5 seconds left", or that the code expired. */
export function timeLeft(secondsLeft: number): string {
  if (secondsLeft <= 0) return t("code_expired_ask_new");
  const minutes = Math.floor(secondsLeft / 60);
  const seconds = secondsLeft % 60;
  const parts = [
    minutes > 0 ? plural("minutes", minutes) : "",
    seconds > 0 || minutes === 0 ? plural("seconds", seconds) : "",
  ].filter(Boolean);
  return t("time_left", { time: parts.join(" ") });
}

/** Loads the catalogue for `lang` from the extension's files. */
export async function loadCatalogue(lang: Language, urlOf: (path: string) => string): Promise<void> {
  const response = await fetch(urlOf(`_locales/${LOCALE_DIR[lang]}/messages.json`));
  useCatalogue(lang, (await response.json()) as Catalogue);
}
