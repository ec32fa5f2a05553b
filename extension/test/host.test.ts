import { test } from "node:test";
import assert from "node:assert/strict";
import { HostSession, HostRequestError, HostUnavailableError, describeHostState } from "../src/lib/host";
import { FakePort, useCatalogueForTests } from "./fakes";

useCatalogueForTests("en-GB");

function session(ports: FakePort[]) {
  const timers: Array<{ f: () => void; ms: number }> = [];
  const s = new HostSession(
    () => {
      const port = new FakePort();
      ports.push(port);
      return port;
    },
    { setTimer: (f, ms) => timers.push({ f, ms }), clearTimer: () => undefined, retryDelaysMs: [500, 1000] },
  );
  return { s, timers };
}

const hello = { type: "hello", protocol: 2, version: "0.1.0", capabilities: ["status"] };

test("waits for the hello, then matches replies to requests by id", async () => {
  const ports: FakePort[] = [];
  const { s } = session(ports);
  const port = ports[0]!;
  port.receive(hello);
  await s.ready();
  assert.equal(s.state.kind, "ready");
  const first = s.request({ type: "status" });
  const second = s.request({ type: "status" });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(port.sent, [
    { id: 1, type: "status" },
    { id: 2, type: "status" },
  ]);
  port.receive({ id: 2, result: { second: true } });
  port.receive({ id: 1, error: { code: "no-card", message: "No smartcard." } });
  assert.deepEqual(await second, { second: true });
  await assert.rejects(first, (e: unknown) => e instanceof HostRequestError && e.code === "no-card");
});

test("events go to listeners, not to requests", async () => {
  const ports: FakePort[] = [];
  const { s } = session(ports);
  const seen: string[] = [];
  s.onEvent((e) => seen.push(e.event));
  ports[0]!.receive(hello);
  ports[0]!.receive({ type: "event", event: "card-inserted", reader: "R" });
  assert.deepEqual(seen, ["card-inserted"]);
});

test("a host that is not installed is said so, without retrying", async () => {
  const ports: FakePort[] = [];
  const { s, timers } = session(ports);
  ports[0]!.drop("Specified native messaging host not found.");
  assert.equal(s.state.kind, "not-installed");
  await assert.rejects(
    s.ready(),
    (e: unknown) => e instanceof HostUnavailableError && /not installed/.test(describeHostState(e.state)),
  );
  assert.equal(timers.filter((t) => t.ms === 500).length, 0);
});

test("a host a browser policy refuses is said so (IT must allow it), without retrying", async () => {
  const ports: FakePort[] = [];
  const { s, timers } = session(ports);
  // Chromium's text for NativeMessagingBlocklist without our host in NativeMessagingAllowlist.
  ports[0]!.drop("Access to the native messaging host was disabled by the system administrator.");
  assert.equal(s.state.kind, "blocked-by-policy");
  await assert.rejects(
    s.ready(),
    (e: unknown) =>
      e instanceof HostUnavailableError &&
      /browser settings do not allow/.test(describeHostState(e.state)) &&
      /smartcard_selfservice/.test(describeHostState(e.state)),
  );
  assert.equal(timers.filter((t) => t.ms === 500).length, 0);
});

test("a host speaking another protocol is refused", async () => {
  const ports: FakePort[] = [];
  const { s } = session(ports);
  ports[0]!.receive({ ...hello, protocol: 1, version: "0.0.9" });
  assert.deepEqual(s.state, { kind: "wrong-version", protocol: 1, version: "0.0.9" });
  assert.ok(ports[0]!.disconnected);
  await assert.rejects(
    s.ready(),
    (e: unknown) => e instanceof HostUnavailableError && /does not match/.test(describeHostState(e.state)),
  );
});

test("a lost host fails pending requests and reconnects with backoff", async () => {
  const ports: FakePort[] = [];
  const { s, timers } = session(ports);
  ports[0]!.receive(hello);
  await s.ready();
  const pending = s.request({ type: "status" });
  await new Promise((r) => setImmediate(r));
  ports[0]!.drop("Native host has exited.");
  await assert.rejects(pending, HostUnavailableError);
  assert.equal(s.state.kind, "disconnected");
  const retry = timers.find((t) => t.ms === 500);
  assert.ok(retry, "a reconnect is scheduled after 500 ms");
  retry.f();
  assert.equal(ports.length, 2);
  // Failing again before a hello waits longer; a good connection starts the backoff afresh.
  ports[1]!.drop("gone again");
  assert.ok(
    timers.some((t) => t.ms === 1000),
    "the next wait is longer",
  );
  timers.find((t) => t.ms === 1000)!.f();
  ports[2]!.receive(hello);
  await s.ready();
  assert.equal(s.state.kind, "ready");
});

test("a host that never says hello is treated as lost", () => {
  const ports: FakePort[] = [];
  const { s, timers } = session(ports);
  timers.find((t) => t.ms === 5000)!.f();
  assert.equal(s.state.kind, "disconnected");
});
