import { codeDeadline, secondsLeft } from "../src/lib/code_time";
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { RegisterJourney } from "../src/lib/register";
import { UnlockJourney } from "../src/lib/unlock";
import { FakeHost, fakePortal, hostError, loadRulesForTests } from "./fakes";
import { rules } from "../src/lib/rules";

before(() => loadRulesForTests());

const rule = () => {
  const verdict = rules.passcodeRule("piv-strict", undefined);
  assert.ok(verdict.ok && verdict.value);
  return verdict.value;
};

/** The host's `find-card` answer: the one card, in the first virtual reader. */
function card(state: "usable" | "blocked") {
  return {
    reader: "Virtual PCD 00 00",
    card: {
      profile: "piv",
      guid: "ab".repeat(16),
      holderName: "Mr John Rigby",
      expiry: "2028-01-01",
      daysLeft: 400,
      passcode: state === "usable" ? { state, retriesLeft: 3 } : { state },
      pinConstraint: "piv-strict",
      passcodeRule: rule(),
    },
  };
}

const proof = { cardGuid: "ab".repeat(16), certificate: "MII", signature: "MEU", algorithm: "ES256" };
const challenge = { challengeId: "c1", nonce: "n".repeat(43), expiresAt: 1 };

test("registration goes card, passcode, questions, email, code, done", async () => {
  const host = new FakeHost({ "find-card": () => card("usable"), "prove-possession": () => proof });
  const { client, calls } = fakePortal({
    "/api/v1/challenges": () => challenge,
    "/api/v1/registration/start": () => ({
      flowId: "f1",
      holderName: "Mr John Rigby",
      emailOnFile: "john.rigby@nhs.net",
      expiresAt: 9,
    }),
    "/api/v1/registration/questions": () => ({}),
    "/api/v1/registration/email": () => ({ sentTo: "john.rigby@nhs.net", issuedAt: 1, expiresAt: 901 }),
    "/api/v1/registration/confirm": () => ({ message: "Self Service Registration is complete." }),
  });
  const journey = new RegisterJourney(host, client, "RA");
  assert.equal((await journey.start()).step, "passcode");
  assert.equal((await journey.submitPasscode("583920")).step, "questions");
  const proveCall = host.calls.find((c) => c.type === "prove-possession");
  assert.deepEqual(proveCall, {
    type: "prove-possession",
    purpose: "register",
    origin: "https://portal.test",
    nonce: challenge.nonce,
    passcode: "583920",
    reader: "Virtual PCD 00 00",
  });
  // The choice rule is checked before anything is sent.
  const three = await journey.submitAnswers([{ questionId: "first-car", answer: "Nova" }]);
  assert.equal(three.step === "questions" && three.problem?.code, "wrong-count");
  assert.ok(!calls.some((c) => c.path === "/api/v1/registration/questions"));
  const answers = [
    { questionId: "first-car", answer: "Vauxhall Nova" },
    { questionId: "first-pet", answer: "Biscuit" },
    { questionId: "mother-maiden-name", answer: "Adeyemi" },
    { questionId: "childhood-phone", answer: "0121 496 0000" },
  ];
  const email = await journey.submitAnswers(answers);
  assert.deepEqual(email, { step: "email", emailOnFile: "john.rigby@nhs.net" });
  const lookAlike = await journey.submitEmail("john@nhs.net.evil.com");
  assert.equal(lookAlike.step === "email" && lookAlike.problem?.field, "email");
  assert.equal((await journey.submitEmail("john.rigby@nhs.net")).step, "code");
  const badCode = await journey.submitCode("12a");
  assert.equal(badCode.step === "code" && badCode.problem?.code, "not-digits");
  assert.deepEqual(await journey.submitCode("171 887"), { step: "done" });
  assert.deepEqual(calls.at(-1)?.body, { flowId: "f1", code: "171887" });
});

test("registration reports a wrong passcode with the tries left, and a locked card", async () => {
  const host = new FakeHost({
    "find-card": () => card("usable"),
    "prove-possession": () =>
      hostError({
        code: "wrong-passcode",
        retriesLeft: 2,
        message: "The passcode is wrong. You have 2 more tries before your smartcard locks.",
      }),
  });
  const { client } = fakePortal({ "/api/v1/challenges": () => challenge });
  const journey = new RegisterJourney(host, client, "RA");
  await journey.start();
  const view = await journey.submitPasscode("111111");
  assert.equal(view.step, "passcode");
  assert.equal(view.step === "passcode" && view.problem?.field, "passcode");
  assert.match(view.step === "passcode" ? (view.problem?.message ?? "") : "", /2 more tries/);
  const locked = new RegisterJourney(new FakeHost({ "find-card": () => card("blocked") }), client, "RA");
  const first = await locked.start();
  assert.equal(first.step === "card" && first.problem?.code, "passcode-blocked");
});

test("no card, no reader and a missing portal each say what to do", async () => {
  const empty = new FakeHost({ "find-card": () => hostError({ code: "no-card", message: "No smartcard was found." }) });
  const { client } = fakePortal({});
  const view = await new RegisterJourney(empty, client, "RA").start();
  assert.equal(view.step === "card" && view.problem?.code, "no-card");
  const noReader = new FakeHost({
    "find-card": () => hostError({ code: "no-reader", message: "No smartcard reader was found." }),
  });
  const none = await new RegisterJourney(noReader, client, "RA").start();
  assert.equal(none.step === "card" && none.problem?.code, "no-reader");
  const down = {
    client: new (client.constructor as any)("https://portal.test/", async () => {
      throw new TypeError("fetch failed");
    }),
  };
  const journey = new RegisterJourney(new FakeHost({ "find-card": () => card("usable") }), down.client, "RA");
  await journey.start();
  const unreachable = await journey.submitPasscode("583920");
  assert.equal(unreachable.step === "passcode" && unreachable.problem?.code, "portal-unreachable");
});

function unlockPortal(overrides: Record<string, (body: any) => unknown> = {}) {
  return fakePortal({
    "/api/v1/challenges": () => challenge,
    "/api/v1/unlock/start": () => ({
      flowId: "u1",
      holderName: "Mr John Rigby",
      questionIds: ["first-car", "first-pet"],
      roundsLeft: 3,
      expiresAt: 9,
    }),
    "/api/v1/unlock/answers": () => ({ sentTo: "j***@nhs.net", issuedAt: 1, expiresAt: 901 }),
    "/api/v1/unlock/code": () => ({}),
    "/api/v1/unlock/code/resend": () => ({ sentTo: "j***@nhs.net", issuedAt: 2, expiresAt: 902 }),
    "/api/v1/unlock/authorization": () => ({
      authorizationId: "a1",
      authorization: { payload: "p", signature: "s" },
      expiresAt: 300,
    }),
    "/api/v1/unlock/result": () => ({}),
    ...overrides,
  });
}

/** A host that finds `found`, proves it, and unlocks it completely. */
function unlockingHost(found: () => unknown): FakeHost {
  return new FakeHost({
    "find-card": found,
    "prove-possession": () => proof,
    unlock: () => ({
      state: { unblocked: true, passcodeSet: true, pukRotated: true },
      passcode: { state: "usable", retriesLeft: 3 },
      receipt: { outcome: "o", signature: "s", algorithm: "ES256" },
    }),
  });
}

test("unlock warns with the holder's name, then questions, code, new passcode, done", async () => {
  const host = unlockingHost(() => card("blocked"));
  const { client, calls } = unlockPortal();
  const journey = new UnlockJourney(host, client, "RA");
  assert.deepEqual(await journey.start(), { step: "warning", holder: "Mr John Rigby", finishing: false });
  assert.equal(
    host.calls.find((c) => c.type === "prove-possession" && c.purpose === "unlock" && !("passcode" in c)) !== undefined,
    true,
  );
  const questions = journey.confirmWarning();
  assert.deepEqual(questions, {
    step: "questions",
    holder: "Mr John Rigby",
    questionIds: ["first-car", "first-pet"],
    roundsLeft: 3,
  });
  const blank = await journey.submitAnswers([
    { questionId: "first-car", answer: "Nova" },
    { questionId: "first-pet", answer: " " },
  ]);
  assert.equal(blank.step === "questions" && blank.problem?.field, "answer-1");
  assert.equal(
    (
      await journey.submitAnswers([
        { questionId: "first-car", answer: "Nova" },
        { questionId: "first-pet", answer: "Rex" },
      ])
    ).step,
    "code",
  );
  const passcode = await journey.submitCode("171887");
  assert.equal(passcode.step, "passcode");
  assert.match(passcode.step === "passcode" ? passcode.rule.description : "", /between 6 and 8 numbers/);
  const mismatch = await journey.submitPasscode("860245", "860246");
  assert.equal(mismatch.step === "passcode" && mismatch.problem?.field, "confirm-passcode");
  const weak = await journey.submitPasscode("1234", "1234");
  assert.equal(weak.step === "passcode" && weak.problem?.code, "too-short");
  assert.ok(!host.calls.some((c) => c.type === "unlock"), "nothing reached the card");
  assert.deepEqual(await journey.submitPasscode("860245", "860245"), { step: "done", confirmed: false });
  const unlockCall = host.calls.find((c) => c.type === "unlock");
  assert.equal(unlockCall?.type === "unlock" && unlockCall.newPasscode, "860245");
  // A fresh proof for the authorization, then the card's receipt (not the host's say-so).
  const asked = calls.find((c) => c.path === "/api/v1/unlock/authorization");
  assert.deepEqual(asked?.body, { flowId: "u1", challengeId: challenge.challengeId, proof });
  assert.equal(host.calls.filter((c) => c.type === "prove-possession").length, 2);
  assert.deepEqual(calls.at(-1)?.body, {
    flowId: "u1",
    authorizationId: "a1",
    receipt: { outcome: "o", signature: "s", algorithm: "ES256" },
  });
  // Remove and reinsert: the card now reads unblocked.
  host.answers["find-card"] = () => card("usable");
  const changed = new Promise((resolve) => journey.onChange(resolve));
  host.emit({ event: "card-inserted", reader: "Virtual PCD 00 00" });
  assert.deepEqual(await changed, { step: "done", confirmed: true });
});

test("wrong answers count down, then self-service locks with the RA contact", async () => {
  let round = 0;
  const { client } = unlockPortal({
    "/api/v1/unlock/answers": () => {
      round += 1;
      return round < 3
        ? [
            403,
            { error: { code: "wrong-answers", roundsLeft: 3 - round, message: "One or more answers are not right." } },
          ]
        : [
            403,
            { error: { code: "self-service-locked", raContact: "Call the RA on 0300 123 4567.", message: "locked" } },
          ];
    },
  });
  const journey = new UnlockJourney(
    new FakeHost({ "find-card": () => card("blocked"), "prove-possession": () => proof }),
    client,
    "RA",
  );
  await journey.start();
  journey.confirmWarning();
  const answers = [
    { questionId: "first-car", answer: "x1" },
    { questionId: "first-pet", answer: "x2" },
  ];
  const first = await journey.submitAnswers(answers);
  assert.equal(first.step === "questions" && first.roundsLeft, 2);
  await journey.submitAnswers(answers);
  const locked = await journey.submitAnswers(answers);
  assert.equal(locked.step, "locked");
  assert.match(locked.step === "locked" ? locked.problem.message : "", /0300 123 4567/);
});

test("an expired code offers a new one", async () => {
  const { client } = unlockPortal({
    "/api/v1/unlock/code": () => [
      410,
      { error: { code: "code-expired", message: "This code has expired. Ask for a new code." } },
    ],
  });
  // This PC's clock, standing still, nowhere near the portal's (which says 1 and 901).
  let clock = 1_790_000_000_000;
  const journey = new UnlockJourney(
    new FakeHost({ "find-card": () => card("blocked"), "prove-possession": () => proof }),
    client,
    "RA",
    { now: () => clock },
  );
  await journey.start();
  journey.confirmWarning();
  const sent = await journey.submitAnswers([
    { questionId: "first-car", answer: "a1" },
    { questionId: "first-pet", answer: "a2" },
  ]);
  // The code's 15 minutes count from when the portal's answer arrived, on this PC's clock.
  assert.deepEqual(sent, { step: "code", sentTo: "j***@nhs.net", deadline: clock + 900_000 });
  clock += 60_000;
  const expired = await journey.submitCode("171887");
  // The portal says expired: no time is left, whatever the countdown said, and the way on is
  // the "Send a new code" button.
  assert.equal(expired.step === "code" && expired.deadline, clock);
  assert.equal(expired.step === "code" && expired.problem?.action, "new-code");
  assert.equal(expired.step === "code" && expired.problem?.field, "send-new-code");
  const fresh = await journey.newCode();
  assert.deepEqual(fresh, { step: "code", sentTo: "j***@nhs.net", deadline: clock + 900_000 });
});

test("a code's time left does not depend on this PC's clock agreeing with the portal's", () => {
  const sent = { issuedAt: 1_790_000_000, expiresAt: 1_790_000_900 };
  for (const skewSeconds of [-600, -300, 0, 300, 840, 3600]) {
    const receivedAt = (sent.issuedAt + skewSeconds) * 1000;
    const deadline = codeDeadline(sent, receivedAt);
    assert.equal(secondsLeft(deadline, receivedAt), 900, `skew ${skewSeconds}`);
    assert.equal(secondsLeft(deadline, receivedAt + 899_500), 1);
    assert.equal(secondsLeft(deadline, receivedAt + 900_000), 0);
  }
});

test("a card pulled during the unlock is reported, and finishes when it comes back", async () => {
  let attempt = 0;
  const host = new FakeHost({
    "find-card": () => card("blocked"),
    "prove-possession": () => proof,
    unlock: () => {
      attempt += 1;
      return attempt === 1
        ? hostError({
            code: "card-removed",
            state: { unblocked: true, passcodeSet: false, pukRotated: false },
            message: "removed",
          } as never)
        : {
            state: { unblocked: true, passcodeSet: true, pukRotated: true },
            passcode: { state: "usable", retriesLeft: 3 },
            receipt: { outcome: "o", signature: "s", algorithm: "ES256" },
          };
    },
  });
  const { client, calls } = unlockPortal();
  const journey = new UnlockJourney(host, client, "RA");
  await journey.start();
  journey.confirmWarning();
  await journey.submitAnswers([
    { questionId: "first-car", answer: "a1" },
    { questionId: "first-pet", answer: "a2" },
  ]);
  await journey.submitCode("171887");
  const pulled = await journey.submitPasscode("860245", "860245");
  assert.equal(pulled.step, "reinsert-to-finish");
  assert.deepEqual(calls.at(-1)?.body, { flowId: "u1", authorizationId: "a1", error: "card-removed" });
  const finished = new Promise((resolve) => journey.onChange(resolve));
  host.emit({ event: "card-inserted", reader: "Virtual PCD 00 00" });
  assert.deepEqual(await finished, { step: "done", confirmed: false });
  const unlocks = host.calls.filter((c) => c.type === "unlock");
  assert.equal(unlocks.length, 2);
  assert.equal(unlocks[1]?.type === "unlock" && unlocks[1].newPasscode, "860245");
});

test("an unlocked card is not taken through the unlock", async () => {
  const { client } = unlockPortal();
  const view = await new UnlockJourney(new FakeHost({ "find-card": () => card("usable") }), client, "RA").start();
  assert.equal(view.step === "card" && view.problem?.code, "not-locked");
});

test("a card an interrupted unlock left unblocked is taken through the unlock to finish it", async () => {
  const unfinished = () => {
    const found = card("usable");
    return { ...found, card: { ...found.card, unlockUnfinished: true } };
  };
  const host = unlockingHost(unfinished);
  const { client, calls } = unlockPortal();
  const journey = new UnlockJourney(host, client, "RA");
  assert.deepEqual(await journey.start(), { step: "warning", holder: "Mr John Rigby", finishing: true });
  journey.confirmWarning();
  await journey.submitAnswers([
    { questionId: "first-car", answer: "Nova" },
    { questionId: "first-pet", answer: "Rex" },
  ]);
  await journey.submitCode("123456");
  assert.deepEqual(await journey.submitPasscode("860245", "860245"), { step: "done", confirmed: false });
  const unlock = host.calls.find((c) => c.type === "unlock");
  assert.equal(unlock?.type === "unlock" && unlock.newPasscode, "860245");
  assert.ok(calls.some((c) => c.path === "/api/v1/unlock/result"));
});

/** A locked card's unlock up to the new passcode; `unlock` answers each host unlock in turn. */
async function pulledJourney(
  unlockAnswers: Array<() => unknown>,
  cardAnswers: Array<() => unknown>,
  overrides: Record<string, (body: any) => unknown> = {},
) {
  let unlocks = 0;
  // find-card answers the locked card until the first unlock, then each of `cardAnswers` in turn.
  const host = new FakeHost({
    "find-card": () => (unlocks === 0 ? card("blocked") : (cardAnswers.shift() ?? (() => card("blocked")))()),
    "prove-possession": () => proof,
    unlock: () => {
      const answer = unlockAnswers[Math.min(unlocks, unlockAnswers.length - 1)];
      unlocks += 1;
      return answer ? answer() : undefined;
    },
  });
  const timers: Array<{ f: () => void; ms: number; cleared: boolean }> = [];
  const { client, calls } = unlockPortal(overrides);
  const journey = new UnlockJourney(host, client, "Call the RA on 0100", {
    stuckAfterMs: 30000,
    setTimer: (f, ms) => {
      // A timer that has fired is spent, like a cleared one.
      const timer = { f: () => ((timer.cleared = true), f()), ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimer: (t) => void ((t as { cleared: boolean }).cleared = true),
  });
  await journey.start();
  journey.confirmWarning();
  await journey.submitAnswers([
    { questionId: "first-car", answer: "a1" },
    { questionId: "first-pet", answer: "a2" },
  ]);
  await journey.submitCode("171887");
  const live = () => timers.filter((t) => !t.cleared);
  return { host, journey, calls, timers: live, unlockCount: () => unlocks };
}

const removed = () =>
  hostError({
    code: "card-removed",
    state: { unblocked: true, passcodeSet: false, pukRotated: false },
    message: "removed",
  } as never);
const unlocked = () => ({
  state: { unblocked: true, passcodeSet: true, pukRotated: true },
  passcode: { state: "usable", retriesLeft: 3 },
  receipt: { outcome: "o", signature: "s", algorithm: "ES256" },
});

test("a card back while the removal is still being reported is not missed", async () => {
  let release: () => void = () => undefined;
  const reported = new Promise<void>((resolve) => (release = resolve));
  let journeyRef: UnlockJourney | null = null;
  let hostRef: FakeHost | null = null;
  const { host, journey, unlockCount } = await pulledJourney([removed, unlocked], [], {
    "/api/v1/unlock/result": (body) => {
      // The card comes back while the page is still telling the portal it went.
      if (body.error === "card-removed") hostRef?.emit({ event: "card-inserted", reader: "Virtual PCD 00 00" });
      return reported.then(() => ({}));
    },
  });
  journeyRef = journey;
  hostRef = host;
  const outcome = journeyRef.submitPasscode("860245", "860245");
  await new Promise((r) => setImmediate(r));
  release();
  assert.deepEqual(await outcome, { step: "done", confirmed: false });
  assert.equal(unlockCount(), 2);
});

test("two insertions while an unlock is with the host start one retry, not two", async () => {
  const { host, journey, unlockCount } = await pulledJourney([removed, unlocked], []);
  assert.equal((await journey.submitPasscode("860245", "860245")).step, "reinsert-to-finish");
  const finished = new Promise((resolve) => journey.onChange(resolve));
  host.emit({ event: "card-inserted", reader: "Virtual PCD 00 00" });
  host.emit({ event: "card-inserted", reader: "Virtual PCD 00 00" });
  assert.deepEqual(await finished, { step: "done", confirmed: false });
  await new Promise((r) => setImmediate(r));
  assert.equal(unlockCount(), 2);
});

test("a pulled card not back in time: the page says what the card holds, and Try again finishes", async () => {
  const noCard = () => hostError({ code: "no-card", message: "No smartcard was found." });
  const { journey, timers, unlockCount } = await pulledJourney(
    [removed, removed, unlocked],
    [noCard, () => card("usable")],
  );
  assert.equal((await journey.submitPasscode("860245", "860245")).step, "reinsert-to-finish");
  const [stuck] = timers();
  assert.equal(stuck?.ms, 30000);
  // 30 s pass with no card: the page says the card is not in the reader.
  const absent = new Promise<any>((resolve) => journey.onChange(resolve));
  stuck?.f();
  const view = await absent;
  assert.equal(view.step, "unfinished");
  assert.equal(view.card, "absent");
  assert.equal(view.problem.action, "retry");
  assert.match(view.problem.message, /Call the RA on 0100/);
  assert.equal(timers().length, 0, "no timer left once the page has said so");
  // Try again while the card is out: pulled again, waiting again, a fresh timer.
  assert.equal((await journey.retryUnlock()).step, "reinsert-to-finish");
  const [again] = timers();
  const half = new Promise<any>((resolve) => journey.onChange(resolve));
  again?.f();
  const unblockedOnly = await half;
  assert.equal(unblockedOnly.card, "unlocked");
  assert.match(unblockedOnly.problem.title, /unlock has not finished/);
  assert.deepEqual(await journey.retryUnlock(), { step: "done", confirmed: false });
  assert.equal(unlockCount(), 3);
});

test("an authorization the host will not take says the card was not changed and to call IT", async () => {
  const outdated = () =>
    hostError({
      code: "authorization-outdated",
      version: 1,
      message: "The portal sent an unlock in an old format. Contact your IT service desk.",
    } as never);
  const { journey } = await pulledJourney([outdated], []);
  const view = await journey.submitPasscode("860245", "860245");
  assert.equal(view.step, "passcode");
  assert.equal(view.step === "passcode" && view.problem?.title, "Your smartcard was not changed");
  assert.equal(view.step === "passcode" && view.problem?.action, "none");
});
