// The extension's configuration: set by IT through managed storage (Edge/Chrome policy,
// Firefox policies.json), else a development value saved on this computer, else the default.

import type { OrganisationPolicy } from "./rules";
import type { LanguageChoice } from "./i18n";

export interface EffectiveConfig {
  portalUrl: string;
  allowedOrigins: string[];
  raContact: string;
  passcodePolicy: OrganisationPolicy | undefined;
  /** The language of the pages: `auto` follows the browser's UI language. */
  language: LanguageChoice;
  sources: Record<"portalUrl" | "allowedOrigins" | "raContact" | "passcodePolicy" | "language", ConfigSource>;
  /** What IT set that cannot be used: each ignored, and shown on the options page and in the popup. */
  problems: ConfigProblem[];
  /** IT manages this machine, so the portal and its origins are IT's alone (nothing set here counts). */
  originsManaged: boolean;
}

export type ConfigSource = "policy" | "this computer" | "default";

/** A managed value of the wrong type or form (`key`), or managed storage that could not be read. */
export interface ConfigProblem {
  key: keyof Managed | "managed storage";
  detail: string;
}

export const DEFAULTS = {
  // The reference portal, for a machine IT has not configured yet.
  portalUrl: "http://127.0.0.1:8640",
  // Empty: the pages say the catalogue's "contact your local RA team" in their language.
  raContact: "",
  language: "auto" as LanguageChoice,
};

const LANGUAGE_CHOICES: readonly string[] = ["auto", "en-GB", "cy"];

/** Managed keys, as in managed_schema.json. */
interface Managed {
  PortalUrl?: string;
  AllowedPortalOrigins?: string[];
  RaContact?: string;
  PasscodePolicy?: OrganisationPolicy;
  Language?: LanguageChoice;
}

export interface StorageAreas {
  managed: { get(): Promise<Record<string, unknown>> };
  local: { get(key: string): Promise<Record<string, unknown>> };
}

export const LOCAL_KEY = "developmentConfig";
/** The person's own choices on the options page (the language). */
export const PREFERENCES_KEY = "preferences";

/**
 * Firefox's answer when no policy sets managed storage: no policy, not a failure (it rejects
 * rather than resolving `{}`: https://bugzilla.mozilla.org/show_bug.cgi?id=1784446, message from
 * toolkit/components/extensions/parent/ext-storage.js). Firefox checks managed values against no
 * schema (MDN, manifest.json `storage`), so every value is checked here.
 */
const NO_FIREFOX_POLICY = /managed storage manifest not found/i;

export async function loadConfig(storage: StorageAreas): Promise<EffectiveConfig> {
  const problems: ConfigProblem[] = [];
  let raw: Record<string, unknown> = {};
  let managedRead = true;
  try {
    raw = (await storage.managed.get()) ?? {};
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!NO_FIREFOX_POLICY.test(message)) {
      // IT may have set something we cannot see: trust nothing set on this computer for origins.
      managedRead = false;
      problems.push({ key: "managed storage", detail: message });
    }
  }
  const managed = checkManaged(raw, problems);
  const stored: Record<string, unknown> = (await storage.local.get(LOCAL_KEY).catch(() => ({}))) ?? {};
  const preferences: Record<string, unknown> = (await storage.local.get(PREFERENCES_KEY).catch(() => ({}))) ?? {};
  const local = { ...((stored[LOCAL_KEY] ?? {}) as Managed), ...((preferences[PREFERENCES_KEY] ?? {}) as Managed) };
  // A language nobody has a catalogue for counts as not set.
  if (local.Language !== undefined && !LANGUAGE_CHOICES.includes(local.Language)) delete local.Language;
  // Which origins may use the bridge is IT's alone once IT has set anything at all (a value of
  // the wrong type included) or its settings could not be read: a development value saved on
  // this computer never widens a managed machine's list.
  const managedMachine = !managedRead || Object.keys(raw).length > 0;
  const pick = <K extends keyof Managed>(
    key: K,
    fallback: NonNullable<Managed[K]> | undefined,
    localAllowed = true,
  ) => {
    if (managed[key] !== undefined) return { value: managed[key], source: "policy" as const };
    if (localAllowed && local[key] !== undefined) return { value: local[key], source: "this computer" as const };
    return { value: fallback, source: "default" as const };
  };
  const portal = pick("PortalUrl", DEFAULTS.portalUrl, !managedMachine);
  const portalUrl = portal.value ?? DEFAULTS.portalUrl;
  const origins = pick("AllowedPortalOrigins", undefined, !managedMachine);
  const ra = pick("RaContact", DEFAULTS.raContact);
  const policy = pick("PasscodePolicy", undefined);
  const language = pick("Language", DEFAULTS.language);
  return {
    portalUrl,
    // Without a list, the portal's own origin is the one allowed.
    allowedOrigins: origins.value ?? [originOf(portalUrl)],
    raContact: ra.value ?? DEFAULTS.raContact,
    passcodePolicy: policy.value,
    language: language.value ?? DEFAULTS.language,
    sources: {
      portalUrl: portal.source,
      allowedOrigins: origins.value ? origins.source : portal.source,
      raContact: ra.source,
      passcodePolicy: policy.source,
      language: language.source,
    },
    problems,
    originsManaged: managedMachine,
  };
}

/**
 * The managed values of the types managed_schema.json gives; each other value is left out and
 * named in `problems`. Chromium checks managed values against the schema, Firefox does not,
 * and a hand-written registry value can be anything.
 */
function checkManaged(raw: Record<string, unknown>, problems: ConfigProblem[]): Managed {
  const managed: Managed = {};
  const refuse = (key: keyof Managed, detail: string) => problems.push({ key, detail });
  const { PortalUrl, AllowedPortalOrigins, RaContact, PasscodePolicy, Language } = raw;
  if (PortalUrl !== undefined) {
    if (typeof PortalUrl === "string" && webOrigin(PortalUrl) !== "") managed.PortalUrl = PortalUrl;
    else refuse("PortalUrl", `not an http or https address: ${JSON.stringify(PortalUrl)}`);
  }
  if (AllowedPortalOrigins !== undefined) {
    const list = Array.isArray(AllowedPortalOrigins) ? (AllowedPortalOrigins as unknown[]) : null;
    const origins = list?.map((o) => (typeof o === "string" ? webOrigin(o) : ""));
    if (origins && origins.length > 0 && origins.every((o) => o !== "")) managed.AllowedPortalOrigins = origins;
    else refuse("AllowedPortalOrigins", `not a list of http or https origins: ${JSON.stringify(AllowedPortalOrigins)}`);
  }
  if (RaContact !== undefined) {
    if (typeof RaContact === "string") managed.RaContact = RaContact;
    else refuse("RaContact", `not text: ${JSON.stringify(RaContact)}`);
  }
  if (PasscodePolicy !== undefined) {
    // Firefox's ADMX writes the policy as a REG_SZ, so it arrives as JSON text.
    let value: unknown = PasscodePolicy;
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch {
        value = undefined;
      }
    }
    if (typeof value === "object" && value !== null && !Array.isArray(value)) managed.PasscodePolicy = value;
    else refuse("PasscodePolicy", `not a policy object: ${JSON.stringify(PasscodePolicy)}`);
  }
  if (Language !== undefined) {
    if (typeof Language === "string" && LANGUAGE_CHOICES.includes(Language))
      managed.Language = Language as LanguageChoice;
    else refuse("Language", `not one of ${LANGUAGE_CHOICES.join(", ")}: ${JSON.stringify(Language)}`);
  }
  return managed;
}

/** The origin of an http or https address, or "" for anything else. */
function webOrigin(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.origin : "";
  } catch {
    return "";
  }
}

export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}
