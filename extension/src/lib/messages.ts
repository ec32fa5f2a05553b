// What the rules' typed answers say, in the page's language: the rules crate and the host
// return codes with their data (and an English sentence for logs, never shown); these turn the
// codes into sentences from the catalogue.

import { formatList, t } from "./i18n";
import type {
  AnswerRejection,
  ChoiceRejection,
  CodeFormatRejection,
  EmailRejection,
  PasscodeRejection,
  PasscodeRule,
} from "./rules";

/** The passcode rule, as the pages show it before the person types. */
export function passcodeRuleText(rule: PasscodeRule): string {
  const values = { min: rule.minLength, max: rule.maxLength };
  const exact = rule.minLength === rule.maxLength;
  if (rule.charset === "digits") return t(exact ? "passcode_rule_digits_exact" : "passcode_rule_digits_range", values);
  return t(exact ? "passcode_rule_keyboard_exact" : "passcode_rule_keyboard_range", values);
}

export function passcodeRejectionText(reason: PasscodeRejection): string {
  switch (reason.code) {
    case "empty":
      return t("passcode_empty");
    case "too-short":
      return t("passcode_too_short", { min: reason.min });
    case "too-long":
      return t("passcode_too_long", { max: reason.max });
    case "digits-only":
      return t("passcode_digits_only");
    case "character-not-allowed":
      return t("passcode_character_not_allowed");
    case "edge-space":
      return t("passcode_edge_space");
    case "too-easy-to-guess":
      return t("passcode_too_easy_to_guess");
    case "mismatch":
      return t("passcode_mismatch");
  }
}

export function answerRejectionText(reason: AnswerRejection): string {
  switch (reason.code) {
    case "blank":
      return t("answer_blank");
    case "too-short":
      return t("answer_too_short", { min: reason.min });
    case "too-few-digits":
      return t("answer_too_few_digits", { min: reason.min });
    case "too-long":
      return t("answer_too_long", { max: reason.max });
    case "too-easy-to-guess":
      return t("answer_too_easy_to_guess");
  }
}

export function choiceRejectionText(reason: ChoiceRejection): string {
  switch (reason.code) {
    case "wrong-count":
      return t("choice_wrong_count", { expected: reason.expected });
    case "unknown-question":
      return t("choice_unknown_question");
    case "duplicate-question":
      return t("choice_duplicate_question");
    case "repeated-answer":
      return t("choice_repeated_answer");
    case "answer":
      return answerRejectionText(reason.reason);
  }
}

export function emailRejectionText(reason: EmailRejection): string {
  switch (reason.code) {
    case "empty":
      return t("email_empty");
    case "missing-at":
      return t("email_missing_at");
    case "invalid-local-part":
      return t("email_invalid_local_part");
    case "invalid-domain":
      return t("email_invalid_domain");
    case "trailing-dot":
      return t("email_trailing_dot");
    case "too-long":
      return t("email_too_long");
    case "domain-not-approved":
      return t("email_domain_not_approved", { domains: formatList(reason.approved) });
  }
}

export function codeFormatText(reason: CodeFormatRejection): string {
  switch (reason.code) {
    case "empty":
      return t("code_empty");
    case "wrong-length":
      return t("code_wrong_length", { digits: reason.digits });
    case "not-digits":
      return t("code_not_digits");
  }
}

/** A question's catalogue key: `question_<id with underscores>`. */
function questionKey(id: string): string {
  return `question_${id.replace(/-/g, "_")}`;
}

/** A security question from the rules' catalogue, by its stable id. */
export function questionText(id: string): string {
  return t(questionKey(id));
}

export function questionHint(id: string): string {
  return t(`${questionKey(id)}_hint`);
}
