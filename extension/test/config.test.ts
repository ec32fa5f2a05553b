import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig, DEFAULTS, LOCAL_KEY } from "../src/lib/config";

const storage = (managed: Record<string, unknown> | Error, local: Record<string, unknown> = {}) => ({
  managed: {
    get: async () => {
      if (managed instanceof Error) throw managed;
      return managed;
    },
  },
  local: { get: async () => ({ [LOCAL_KEY]: local }) },
});

test("policy beats this computer beats the default, and says which", async () => {
  const config = await loadConfig(
    storage(
      { PortalUrl: "https://selfservice.example.nhs.uk", RaContact: "Call 0300" },
      { PortalUrl: "http://127.0.0.1:9" },
    ),
  );
  assert.equal(config.portalUrl, "https://selfservice.example.nhs.uk");
  assert.deepEqual(config.allowedOrigins, ["https://selfservice.example.nhs.uk"]);
  assert.equal(config.sources.portalUrl, "policy");
  assert.equal(config.raContact, "Call 0300");
  const local = await loadConfig(
    storage(new Error("Managed storage manifest not found"), { PortalUrl: "http://127.0.0.1:9" }),
  );
  assert.equal(local.portalUrl, "http://127.0.0.1:9");
  assert.equal(local.sources.portalUrl, "this computer");
  const bare = await loadConfig(storage({}));
  assert.equal(bare.portalUrl, DEFAULTS.portalUrl);
  assert.equal(bare.sources.raContact, "default");
});
