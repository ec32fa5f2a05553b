// The catalogues: English and Welsh have the same keys and the same placeholders, every key is
// used by the extension, every plural has each form its language needs, and the sentences the
// rules make (time left, plurals, dates) come out right in both languages.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chooseLanguage, formatDate, languageFor, LANGUAGES, plural, t, timeLeft } from "../src/lib/i18n";
import { passcodeRuleText, questionText } from "../src/lib/messages";
import { rules } from "../src/lib/rules";
import { catalogueForTests, loadRulesForTests, useCatalogueForTests } from "./fakes";

loadRulesForTests();

const CATEGORIES = ["zero", "one", "two", "few", "many", "other"];
const pluralBase = (key: string): string => {
  const match = /^(.*)_(zero|one|two|few|many|other)$/.exec(key);
  return match?.[1] ?? key;
};
const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? "").sort();

test("English and Welsh have the same messages, with the same placeholders", () => {
  const en = catalogueForTests("en-GB");
  const cy = catalogueForTests("cy");
  const bases = (c: Record<string, unknown>) => [...new Set(Object.keys(c).map(pluralBase))].sort();
  assert.deepEqual(bases(cy), bases(en));
  for (const key of Object.keys(en)) {
    const welsh = cy[key] ?? cy[`${pluralBase(key)}_other`];
    assert.ok(welsh, key);
    assert.deepEqual(placeholders(welsh.message), placeholders(en[key]?.message ?? ""), key);
    assert.notEqual(welsh.message.trim(), "", key);
  }
});

test("every plural has each form its language uses", () => {
  for (const language of LANGUAGES) {
    const catalogue = catalogueForTests(language);
    const needed = new Intl.PluralRules(language).resolvedOptions().pluralCategories;
    const families = new Set(
      Object.keys(catalogue)
        .filter((k) => pluralBase(k) !== k)
        .map(pluralBase),
    );
    assert.ok(families.size > 0);
    for (const family of families) {
      for (const category of needed)
        assert.ok(catalogue[`${family}_${category}`], `${language}: ${family}_${category}`);
      for (const key of Object.keys(catalogue).filter((k) => pluralBase(k) === family)) {
        assert.ok(CATEGORIES.includes(key.slice(family.length + 1)), key);
      }
    }
  }
});

/** Every string literal in the extension's sources and manifest. */
function literals(): Set<string> {
  const src = fileURLToPath(new URL("../../src", import.meta.url));
  const files: string[] = [fileURLToPath(new URL("../../manifest.base.json", import.meta.url))];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) files.push(path);
    }
  };
  walk(src);
  const found = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/"([A-Za-z0-9_]+)"/g)) {
      const literal = match[1] ?? "";
      // The manifest names its messages as `__MSG_key__`.
      found.add(/^__MSG_(\w+)__$/.exec(literal)?.[1] ?? literal);
    }
  }
  return found;
}

test("every message is used, and every question of the rules has one", () => {
  const used = literals();
  const questions = rules.questionCatalogue().map((q) => `question_${q.id.replace(/-/g, "_")}`);
  for (const language of LANGUAGES) {
    const catalogue = catalogueForTests(language);
    for (const key of Object.keys(catalogue)) {
      if (key.startsWith("question_")) {
        assert.ok(questions.includes(key.replace(/_hint$/, "")), `${language}: ${key} is no question of the rules`);
      } else {
        assert.ok(used.has(key) || used.has(pluralBase(key)), `${language}: ${key} is never used`);
      }
    }
    for (const question of questions) {
      assert.ok(catalogue[question], `${language}: ${question}`);
      assert.ok(catalogue[`${question}_hint`], `${language}: ${question}_hint`);
    }
  }
});

test("the language: policy, else the person's choice, else the browser's", () => {
  assert.equal(languageFor("cy"), "cy");
  assert.equal(languageFor("cy-GB"), "cy");
  assert.equal(languageFor("en-US"), "en-GB");
  assert.equal(languageFor(undefined), "en-GB");
  assert.equal(chooseLanguage("cy", "en-GB", "en-GB"), "cy");
  assert.equal(chooseLanguage(undefined, "cy", "en-GB"), "cy");
  assert.equal(chooseLanguage("auto", undefined, "cy"), "cy");
  assert.equal(chooseLanguage(undefined, "auto", "fr"), "en-GB");
});

test("English: plurals, time left, dates and the passcode rule", () => {
  useCatalogueForTests("en-GB");
  assert.equal(plural("popup_tries_left", 1), "Passcode: 1 try left before the card locks.");
  assert.equal(plural("popup_tries_left", 2), "Passcode: 2 tries left before the card locks.");
  assert.equal(timeLeft(845), "14 minutes 5 seconds left");
  assert.equal(timeLeft(61), "1 minute 1 second left");
  assert.equal(timeLeft(60), "1 minute left");
  assert.equal(timeLeft(1), "1 second left");
  assert.match(timeLeft(0), /expired/);
  assert.equal(formatDate("2027-03-01"), "1 March 2027");
  const rule = rules.passcodeRule("piv-strict", undefined);
  assert.ok(rule.ok);
  if (rule.ok) assert.match(passcodeRuleText(rule.value), /between 6 and 8 numbers/);
  assert.equal(questionText("first-pet"), "What was the name of your first pet?");
  assert.equal(t("no_such_key"), "no_such_key");
});

test("Welsh: plurals, time left, dates and the passcode rule", () => {
  useCatalogueForTests("cy");
  assert.equal(plural("popup_tries_left", 2), "Cod pas: 2 cynnig ar ôl cyn i'r cerdyn gloi.");
  assert.equal(timeLeft(845), "14 munud 5 eiliad ar ôl");
  assert.match(formatDate("2027-03-01"), /2027/);
  assert.doesNotMatch(formatDate("2027-03-01"), /March/);
  const rule = rules.passcodeRule("piv-strict", undefined);
  if (rule.ok) assert.match(passcodeRuleText(rule.value), /rhwng 6 a 8 rhif/);
  assert.equal(questionText("first-pet"), "Beth oedd enw eich anifail anwes cyntaf?");
  useCatalogueForTests("en-GB");
});
