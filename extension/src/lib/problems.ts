// Every failure, turned into what the person sees: what happened and what to do, in the
// page's language. Keyed on the host's and the portal's stable codes and their data; their
// English `message` is for logs and is never shown.

import { HostRequestError, HostUnavailableError, describeHostState } from "./host";
import { plural, t } from "./i18n";
import { choiceRejectionText, codeFormatText, emailRejectionText, passcodeRuleText } from "./messages";
import { PortalError } from "./portal";
import type { CodeFormatRejection } from "./rules";

/** The id of the code steps' "Send a new code" button. */
export const NEW_CODE_BUTTON = "send-new-code";

export interface Problem {
  /** A stable code, the host's or the portal's (tests and styles key on it). */
  code: string;
  title: string;
  message: string;
  /** The form field the problem belongs to, if any. */
  field?: string;
  /** What the page offers next. */
  action?: "retry" | "new-code" | "restart" | "none";
}

/** A typed code the rules refused (before it reaches the portal). */
export function codeFormatProblem(reason: CodeFormatRejection): Problem {
  return {
    code: reason.code,
    title: t("check_code_title"),
    message: codeFormatText(reason),
    field: "code",
    action: "retry",
  };
}

function hostProblem(error: HostRequestError, raContact: string): Problem {
  const body = error.body;
  const code = body.code;
  switch (body.code) {
    case "wrong-passcode":
      return {
        code,
        title: t("wrong_passcode_title"),
        message:
          body.retriesLeft === undefined ? t("wrong_passcode_unknown") : plural("wrong_passcode", body.retriesLeft),
        field: "passcode",
        action: "retry",
      };
    case "passcode-blocked":
      return { code, title: t("passcode_blocked_title"), message: t("passcode_blocked_message"), action: "none" };
    case "no-card":
      return { code, title: t("insert_card_title"), message: t("no_card_message"), action: "retry" };
    case "timeout":
      return { code, title: t("insert_card_title"), message: t("timeout_message"), action: "retry" };
    case "card-removed":
      return { code, title: t("card_removed_title"), message: t("card_removed_message"), action: "retry" };
    case "no-reader":
      return { code, title: t("no_reader_title"), message: t("no_reader_message"), action: "retry" };
    case "policy-violation":
      return {
        code,
        title: t("policy_violation_title"),
        message: t("policy_violation_message", { rule: passcodeRuleText(body.rule) }),
        field: "passcode",
        action: "retry",
      };
    case "authorization-outdated":
      // Nothing reached the card; only IT can put this right.
      return {
        code,
        title: t("card_not_changed_title"),
        message: t("authorization_outdated_message"),
        action: "none",
      };
    case "unlock-record-unreadable":
      return {
        code,
        title: t("card_not_changed_title"),
        message: t("unlock_record_unreadable_message"),
        action: "none",
      };
    case "unlock-key-blocked":
      return {
        code,
        title: t("cannot_unlock_here_title"),
        message: t("unlock_key_blocked_message", { ra: raContact }),
        action: "none",
      };
    case "unlock-key-uncertain":
      return {
        code,
        title: t("card_not_changed_title"),
        message: t("unlock_key_uncertain_message", { ra: raContact }),
        action: "none",
      };
    case "unsupported-card":
      return {
        code,
        title: t("cannot_unlock_here_title"),
        message: t("unsupported_card_message", { ra: raContact }),
        action: "none",
      };
    default:
      return { code, title: t("card_problem_title"), message: otherHostMessage(error), action: "retry" };
  }
}

function otherHostMessage(error: HostRequestError): string {
  const body = error.body;
  switch (body.code) {
    case "service-unavailable":
      return t("service_unavailable_message");
    case "multiple-cards":
      return t("multiple_cards_message");
    case "busy":
      return t("busy_message");
    case "cancelled":
      return t("cancelled_message");
    case "authorization-rejected":
      return t("authorization_rejected_message");
    case "origin-not-allowed":
      return t("origin_not_allowed_message", { origin: body.origin });
    case "bad-request":
      return body.field === "passcode" ? t("bad_passcode_format_message") : t("host_internal_message");
    default:
      return t("host_internal_message");
  }
}

function portalProblem(error: PortalError, raContact: string): Problem {
  const detail = error.detail;
  const code = detail.code;
  switch (detail.code) {
    case "portal-unreachable":
      return {
        code,
        title: t("portal_unreachable_title"),
        message: t("portal_unreachable_message"),
        action: "retry",
      };
    case "self-service-locked":
      return {
        code,
        title: t("self_service_locked_title"),
        // The portal's RA contact (its own text) when it sends one, else this organisation's.
        message: t("self_service_locked_message", { ra: detail.raContact || raContact }),
        action: "none",
      };
    case "wrong-answers":
      return {
        code,
        title: t("wrong_answers_title"),
        message: plural("wrong_answers", detail.roundsLeft),
        field: "answers",
        action: "retry",
      };
    case "code-invalid":
      return {
        code,
        title: t("code_invalid_title"),
        message: plural("code_invalid", detail.triesLeft),
        field: "code",
        action: "retry",
      };
    // The way on is a new code, so the error summary links to that button, not the code box.
    case "code-expired":
    case "code-spent":
      return {
        code,
        title: t("new_code_title"),
        message: t(code === "code-expired" ? "code_expired_ask_new" : "code_spent_message"),
        field: NEW_CODE_BUTTON,
        action: "new-code",
      };
    case "code-format":
      return codeFormatProblem(detail.reason);
    case "email-rejected":
      return {
        code,
        title: t("approved_email_title"),
        message: emailRejectionText(detail.reason),
        field: "email",
        action: "retry",
      };
    case "answers-rejected":
      return {
        code,
        title: t("check_answers_title"),
        message: choiceRejectionText(detail.reason),
        field: "answers",
        action: "retry",
      };
    case "flow-expired":
      return { code, title: t("start_again_title"), message: t("flow_expired_message"), action: "restart" };
    case "challenge-invalid":
      return { code, title: t("start_again_title"), message: t("challenge_invalid_message"), action: "restart" };
    case "out-of-order":
      return { code, title: t("start_again_title"), message: t("out_of_order_message"), action: "restart" };
    case "self-service-unavailable":
      return {
        code,
        title: t("self_service_unavailable_title"),
        message: t("self_service_unavailable_message"),
        action: "none",
      };
    case "proof-rejected":
      return { code, title: t("portal_problem_title"), message: t("proof_rejected_message"), action: "retry" };
    case "throttled":
      return {
        code,
        title: t("portal_problem_title"),
        message: plural("throttled", detail.retryAfterSeconds),
        action: "retry",
      };
    case "bad-request":
      return { code, title: t("portal_problem_title"), message: t("portal_bad_request_message"), action: "retry" };
    default:
      return { code, title: t("portal_problem_title"), message: t("portal_internal_message"), action: "retry" };
  }
}

export function problemFrom(error: unknown, raContact: string): Problem {
  if (error instanceof HostUnavailableError) {
    return {
      code: `host-${error.state.kind}`,
      title: t("host_unavailable_title"),
      message: describeHostState(error.state),
      action: "retry",
    };
  }
  if (error instanceof HostRequestError) return hostProblem(error, raContact);
  if (error instanceof PortalError) return portalProblem(error, raContact);
  return {
    code: "internal",
    title: t("something_wrong_title"),
    message: t("something_wrong_message"),
    action: "retry",
  };
}
