// The page library against a stand-in window and extension: what a portal page sees for each
// state the extension can report, and the messages it sends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BRIDGE_VERSION, BridgeError, open, problemOf, requireReady, status } from "../dist/index.js";
import { EXTENSION_MESSAGE_SOURCE, PAGE_MESSAGE_SOURCE } from "../dist/protocol.js";

const ORIGIN = "https://portal.example.nhs.uk";

/** A window whose postMessage delivers to its own listeners, as a browser's does (later). */
function fakeWindow() {
  const listeners = new Set();
  const sent = [];
  const win = {
    location: { origin: ORIGIN },
    sent,
    addEventListener: (_type, listener) => listeners.add(listener),
    removeEventListener: (_type, listener) => listeners.delete(listener),
    listenerCount: () => listeners.size,
    postMessage(data, targetOrigin) {
      assert.equal(targetOrigin, ORIGIN, "messages go to the page's own origin only");
      sent.push(data);
      win.deliver(data, win, ORIGIN);
    },
    deliver(data, source, origin) {
      setTimeout(() => {
        for (const listener of [...listeners]) listener({ data, source, origin });
      }, 0);
    },
  };
  return win;
}

/** The extension's content script, answering as the real one does. */
function withExtension(win, answer) {
  win.addEventListener("message", (event) => {
    const data = event.data;
    if (data?.source !== PAGE_MESSAGE_SOURCE) return;
    const reply = answer(data);
    if (reply) {
      win.deliver(
        { source: EXTENSION_MESSAGE_SOURCE, bridgeVersion: BRIDGE_VERSION, requestId: data.requestId, ...reply },
        win,
        ORIGIN,
      );
    }
  });
  return win;
}

const ready = {
  type: "presence",
  version: "0.1.0",
  host: { installed: true, state: "ready", version: "0.1.0" },
  readers: [
    { name: "Virtual PCD 00 00", card: "locked" },
    { name: "Virtual PCD 00 01", card: "none" },
    { name: "bad", card: "shiny" },
  ],
};

test("a ready extension and host: versions and the readers in brief (unknown states dropped)", async () => {
  const win = withExtension(fakeWindow(), () => ready);
  const found = await status({ target: win, timeoutMs: 1000 });
  assert.deepEqual(found, {
    extension: { present: true, version: "0.1.0", bridgeVersion: BRIDGE_VERSION },
    host: { state: "ready", version: "0.1.0" },
    readers: [
      { name: "Virtual PCD 00 00", card: "locked" },
      { name: "Virtual PCD 00 01", card: "none" },
    ],
  });
  assert.equal(problemOf(found), undefined);
  assert.equal(win.sent[0].type, "presence");
  assert.equal(typeof win.sent[0].requestId, "string");
  assert.equal(win.listenerCount(), 1, "the library's listener is gone");
});

test("no extension: absent after the timeout, and open() says so", async () => {
  const win = fakeWindow();
  const found = await status({ target: win, timeoutMs: 30 });
  assert.deepEqual(found, { extension: { present: false }, readers: [] });
  assert.equal(problemOf(found)?.code, "extension-absent");
  await assert.rejects(open("unlock", { target: win, timeoutMs: 30 }), {
    name: "BridgeError",
    code: "extension-absent",
  });
  assert.equal(win.listenerCount(), 0);
});

for (const [state, code] of [
  ["not-installed", "host-not-installed"],
  ["blocked-by-policy", "host-blocked-by-policy"],
  ["wrong-version", "host-wrong-version"],
  ["no-answer", "host-no-answer"],
  ["something-new", "host-no-answer"],
]) {
  test(`host ${state}: requireReady() rejects with ${code}, no readers`, async () => {
    const win = withExtension(fakeWindow(), () => ({
      type: "presence",
      version: "0.1.0",
      host: { installed: false, state },
      readers: [{ name: "r", card: "ready" }],
    }));
    const found = await status({ target: win, timeoutMs: 1000 });
    assert.deepEqual(found.readers, []);
    const rejected = await requireReady({ target: win, timeoutMs: 1000 }).catch((e) => e);
    assert.ok(rejected instanceof BridgeError);
    assert.equal(rejected.code, code);
  });
}

test("another bridge version is named, not guessed at", async () => {
  const win = withExtension(fakeWindow(), () => ({ ...ready, bridgeVersion: BRIDGE_VERSION + 1 }));
  const found = await status({ target: win, timeoutMs: 1000 });
  assert.equal(problemOf(found)?.code, "bridge-version");
});

test("answers from another window, another origin or to another request are ignored", async () => {
  const win = fakeWindow();
  win.addEventListener("message", (event) => {
    if (event.data?.source !== PAGE_MESSAGE_SOURCE) return;
    const answer = { source: EXTENSION_MESSAGE_SOURCE, ...ready, requestId: event.data.requestId };
    win.deliver(answer, {}, ORIGIN);
    win.deliver(answer, win, "https://evil.example");
    win.deliver({ ...answer, requestId: "someone-else" }, win, ORIGIN);
  });
  const found = await status({ target: win, timeoutMs: 50 });
  assert.equal(found.extension.present, false);
});

test("the extension's unasked announcement counts as an answer to status()", async () => {
  const win = fakeWindow();
  win.addEventListener("message", (event) => {
    if (event.data?.source !== PAGE_MESSAGE_SOURCE) return;
    win.deliver({ source: EXTENSION_MESSAGE_SOURCE, bridgeVersion: BRIDGE_VERSION, ...ready }, win, ORIGIN);
  });
  assert.equal((await status({ target: win, timeoutMs: 1000 })).host?.state, "ready");
});

test("open() asks for the journey and resolves when the extension opened it", async () => {
  const win = withExtension(fakeWindow(), (data) =>
    data.type === "open" ? { type: "opened", journey: data.journey, opened: true } : undefined,
  );
  await open("register", { target: win, timeoutMs: 1000 });
  assert.equal(win.sent[0].type, "open");
  assert.equal(win.sent[0].journey, "register");
});

test("open() rejects when the extension refuses, and for a journey that does not exist", async () => {
  const win = withExtension(fakeWindow(), (data) =>
    data.type === "open" ? { type: "opened", journey: data.journey, opened: false } : undefined,
  );
  await assert.rejects(open("unlock", { target: win, timeoutMs: 1000 }), { code: "open-refused" });
  await assert.rejects(open("reset", { target: win, timeoutMs: 1000 }), { code: "open-refused" });
  assert.equal(win.sent.length, 1, "no message for a journey that does not exist");
});
