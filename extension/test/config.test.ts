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

// IT's policy wins: any managed value makes the portal and its origins IT's alone.
test("a local origin list never stands beside a policy portal", async () => {
  const config = await loadConfig(
    storage(
      { PortalUrl: "https://selfservice.example.nhs.uk" },
      { PortalUrl: "http://127.0.0.1:9", AllowedPortalOrigins: ["https://evil.example"] },
    ),
  );
  assert.deepEqual(config.allowedOrigins, ["https://selfservice.example.nhs.uk"]);
  assert.equal(config.sources.allowedOrigins, "policy");
  assert.equal(config.originsManaged, true);
  assert.deepEqual(config.problems, []);
});

test("any managed value, even one unrelated to origins, makes the origins IT's", async () => {
  const config = await loadConfig(
    storage(
      { RaContact: "Call 0300" },
      { PortalUrl: "http://127.0.0.1:9", AllowedPortalOrigins: ["https://evil.example"] },
    ),
  );
  assert.equal(config.portalUrl, DEFAULTS.portalUrl);
  assert.deepEqual(config.allowedOrigins, [new URL(DEFAULTS.portalUrl).origin]);
  assert.equal(config.sources.portalUrl, "default");
  assert.equal(config.raContact, "Call 0300");
});

test("an unmanaged machine keeps its development values", async () => {
  const config = await loadConfig(
    storage(new Error("Managed storage manifest not found"), {
      PortalUrl: "http://127.0.0.1:9",
      AllowedPortalOrigins: ["http://127.0.0.1:9", "http://localhost:9"],
    }),
  );
  assert.deepEqual(config.allowedOrigins, ["http://127.0.0.1:9", "http://localhost:9"]);
  assert.equal(config.sources.allowedOrigins, "this computer");
  assert.equal(config.originsManaged, false);
  assert.deepEqual(config.problems, []);
});

test("managed storage that cannot be read is a problem, and nothing set here is trusted", async () => {
  const config = await loadConfig(
    storage(new Error("Storage area is disabled"), { AllowedPortalOrigins: ["https://evil.example"] }),
  );
  assert.deepEqual(config.allowedOrigins, [new URL(DEFAULTS.portalUrl).origin]);
  assert.deepEqual(
    config.problems.map((p) => p.key),
    ["managed storage"],
  );
  assert.match(config.problems[0]?.detail ?? "", /disabled/);
});

test("wrongly typed managed values are refused by name, and still make the origins IT's", async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ AllowedPortalOrigins: "https://selfservice.example.nhs.uk" }, "AllowedPortalOrigins"],
    [{ AllowedPortalOrigins: ["https://selfservice.example.nhs.uk", 7] }, "AllowedPortalOrigins"],
    [{ AllowedPortalOrigins: ["javascript:alert(1)"] }, "AllowedPortalOrigins"],
    [{ AllowedPortalOrigins: [] }, "AllowedPortalOrigins"],
    [{ PortalUrl: "selfservice.example.nhs.uk" }, "PortalUrl"],
    [{ PortalUrl: ["https://selfservice.example.nhs.uk"] }, "PortalUrl"],
    [{ RaContact: 300 }, "RaContact"],
    [{ PasscodePolicy: "{not json" }, "PasscodePolicy"],
    [{ PasscodePolicy: [6, 8] }, "PasscodePolicy"],
    [{ Language: "fr" }, "Language"],
  ];
  for (const [managed, key] of cases) {
    const config = await loadConfig(storage(managed, { AllowedPortalOrigins: ["https://evil.example"] }));
    assert.deepEqual(
      config.problems.map((p) => p.key),
      [key],
      JSON.stringify(managed),
    );
    assert.ok(!config.allowedOrigins.includes("https://evil.example"), JSON.stringify(managed));
    assert.equal(config.originsManaged, true);
  }
});

test("a managed origin list is read as origins; Firefox's passcode policy arrives as JSON text", async () => {
  const config = await loadConfig(
    storage({
      PortalUrl: "https://selfservice.example.nhs.uk/unlock",
      AllowedPortalOrigins: ["https://selfservice.example.nhs.uk/", "https://other.example.nhs.uk"],
      PasscodePolicy: '{"minLength": 7}',
    }),
  );
  assert.deepEqual(config.allowedOrigins, ["https://selfservice.example.nhs.uk", "https://other.example.nhs.uk"]);
  assert.deepEqual(config.passcodePolicy, { minLength: 7 });
  assert.equal(config.sources.passcodePolicy, "policy");
  assert.deepEqual(config.problems, []);
});
