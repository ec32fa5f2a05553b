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
}

export type ConfigSource = "policy" | "this computer" | "default";

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

export async function loadConfig(storage: StorageAreas): Promise<EffectiveConfig> {
  // storage.managed throws in Firefox when no policy sets it.
  const managed = ((await storage.managed.get().catch(() => ({}))) ?? {}) as Managed;
  const stored: Record<string, unknown> = (await storage.local.get(LOCAL_KEY).catch(() => ({}))) ?? {};
  const preferences: Record<string, unknown> = (await storage.local.get(PREFERENCES_KEY).catch(() => ({}))) ?? {};
  const local = { ...((stored[LOCAL_KEY] ?? {}) as Managed), ...((preferences[PREFERENCES_KEY] ?? {}) as Managed) };
  // A language nobody has a catalogue for counts as not set.
  for (const area of [managed, local]) {
    if (area.Language !== undefined && !LANGUAGE_CHOICES.includes(area.Language)) delete area.Language;
  }
  const pick = <K extends keyof Managed>(key: K, fallback: NonNullable<Managed[K]> | undefined) => {
    if (managed[key] !== undefined) return { value: managed[key], source: "policy" as const };
    if (local[key] !== undefined) return { value: local[key], source: "this computer" as const };
    return { value: fallback, source: "default" as const };
  };
  const portal = pick("PortalUrl", DEFAULTS.portalUrl);
  const portalUrl = portal.value ?? DEFAULTS.portalUrl;
  const origins = pick("AllowedPortalOrigins", undefined);
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
  };
}

export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}
