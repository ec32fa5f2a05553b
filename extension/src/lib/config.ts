// The extension's configuration: set by IT through managed storage (Edge/Chrome policy,
// Firefox policies.json), else a development value saved on this computer, else the default.

import type { OrganisationPolicy } from "./rules";

export interface EffectiveConfig {
  portalUrl: string;
  allowedOrigins: string[];
  raContact: string;
  passcodePolicy: OrganisationPolicy | undefined;
  sources: Record<"portalUrl" | "allowedOrigins" | "raContact" | "passcodePolicy", ConfigSource>;
}

export type ConfigSource = "policy" | "this computer" | "default";

export const DEFAULTS = {
  // The reference portal, for a machine IT has not configured yet.
  portalUrl: "http://127.0.0.1:8640",
  raContact: "Contact your local Registration Authority (RA) team.",
};

/** Managed keys, as in managed_schema.json. */
interface Managed {
  PortalUrl?: string;
  AllowedPortalOrigins?: string[];
  RaContact?: string;
  PasscodePolicy?: OrganisationPolicy;
}

export interface StorageAreas {
  managed: { get(): Promise<Record<string, unknown>> };
  local: { get(key: string): Promise<Record<string, unknown>> };
}

export const LOCAL_KEY = "developmentConfig";

export async function loadConfig(storage: StorageAreas): Promise<EffectiveConfig> {
  // storage.managed throws in Firefox when no policy sets it.
  const managed = ((await storage.managed.get().catch(() => ({}))) ?? {}) as Managed;
  const stored: Record<string, unknown> = (await storage.local.get(LOCAL_KEY).catch(() => ({}))) ?? {};
  const local = (stored[LOCAL_KEY] ?? {}) as Managed;
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
  return {
    portalUrl,
    // Without a list, the portal's own origin is the one allowed.
    allowedOrigins: origins.value ?? [originOf(portalUrl)],
    raContact: ra.value ?? DEFAULTS.raContact,
    passcodePolicy: policy.value,
    sources: {
      portalUrl: portal.source,
      allowedOrigins: origins.value ? origins.source : portal.source,
      raContact: ra.source,
      passcodePolicy: policy.source,
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
