// The shared vector file, checked against the wasm build through the same exports the
// extension pages call. `wasm/tests/vectors.rs` checks the same file natively.
// Run: node --test wasm/tests/node/   (after `cargo xtask build`, which writes wasm/pkg/)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkgDir = process.env.SELFSERVICE_RULES_PKG ?? here("../../pkg/");
const rules = await import(`${pkgDir}/selfservice_rules.js`);
rules.initSync({ module: readFileSync(`${pkgDir}/selfservice_rules_bg.wasm`) });

const { cases } = JSON.parse(readFileSync(here("../../vectors/rules.json"), "utf8"));

function rule(input) {
  const verdict = rules.passcodeRule(input.card, input.organisation);
  assert.ok(verdict.ok, `rule for ${JSON.stringify(input)}: ${verdict.message}`);
  return verdict.value;
}

const evaluate = {
  rule: (i) => rules.passcodeRule(i.card, i.organisation),
  passcode: (i) => rules.checkPasscode(rule(i), i.candidate),
  "passcode-pair": (i) => rules.checkPasscodePair(rule(i), i.passcode, i.confirmation),
  email: (i) =>
    rules.checkEmail(i.email, i.approvedDomains ? { approvedDomains: i.approvedDomains } : undefined),
  answer: (i) => rules.checkAnswer(i.questionId, i.answer),
  choice: (i) => rules.checkRegistrationChoice(i.answers),
  code: (i) => rules.parseCode(i.input),
  "code-status": (i) => rules.codeStatus(i.issuedAt, i.now),
  attempts: (i) => rules.recordQuestionFailure(i.failedRounds),
};

// The host's request parser is not in the extension's module: no page parses host requests,
// and leaving it out halves the module (serde_json and its error paths). `wasm/tests/vectors.rs`
// checks these cases natively, where the host runs them.
const NATIVE_ONLY = new Set(["request"]);

// Every key of `expected` has the same value in `actual`.
function contains(actual, expected) {
  if (expected && typeof expected === "object" && !Array.isArray(expected)) {
    return actual && typeof actual === "object" &&
      Object.entries(expected).every(([k, v]) => contains(actual[k], v));
  }
  return JSON.stringify(actual) === JSON.stringify(expected);
}

test("the vector file has its cases", () => {
  assert.ok(cases.length > 100);
});

test("every case is one the wasm build evaluates or one that is native only", () => {
  for (const c of cases) {
    assert.ok(c.kind in evaluate || NATIVE_ONLY.has(c.kind), `unknown kind ${c.kind} in ${c.name}`);
  }
  assert.ok(cases.some((c) => NATIVE_ONLY.has(c.kind)) && cases.some((c) => !NATIVE_ONLY.has(c.kind)));
});

test("the host protocol's parsers are not in the module", () => {
  assert.equal(rules.checkHostRequest, undefined);
  assert.equal(rules.parseHostMessage, undefined);
});

for (const c of cases.filter((c) => !NATIVE_ONLY.has(c.kind))) {
  test(c.name, () => {
    const actual = evaluate[c.kind](c.input);
    if (actual && actual.ok === false) {
      assert.ok(typeof actual.message === "string" && actual.message.length > 0, "a refusal has a message");
    }
    if (actual && typeof actual === "object") delete actual.message;
    if (c.match === "subset") {
      assert.ok(contains(actual, c.expect), `expected ${JSON.stringify(c.expect)} within ${JSON.stringify(actual)}`);
    } else {
      assert.deepStrictEqual(actual, c.expect);
    }
  });
}

test("the catalogue has the 20 questions the native build has", () => {
  const catalogue = rules.questionCatalogue();
  assert.equal(catalogue.length, 20);
  assert.equal(new Set(catalogue.map((q) => q.id)).size, 20);
  assert.ok(catalogue.some((q) => q.text === "What is your mother's maiden name?"));
});

test("a code lasts 15 minutes, as the pages say", () => {
  assert.equal(rules.codeLifetimeSeconds(), 900);
});
