// Every failure, turned into what the person sees: what happened and what to do.

import { HostRequestError, HostUnavailableError } from "./host";
import { PortalError } from "./portal";

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
export function codeFormatProblem(refused: { reason: { code: string }; message: string }): Problem {
  return {
    code: refused.reason.code,
    title: "Check the code",
    message: refused.message,
    field: "code",
    action: "retry",
  };
}

export function problemFrom(error: unknown, raContact: string): Problem {
  if (error instanceof HostUnavailableError) {
    return {
      code: `host-${error.state.kind}`,
      title: "The smartcard software is not available",
      message: error.message,
      action: "retry",
    };
  }
  if (error instanceof HostRequestError) {
    const body = error.body;
    switch (body.code) {
      case "wrong-passcode":
        return { code: body.code, title: "Wrong passcode", message: body.message, field: "passcode", action: "retry" };
      case "passcode-blocked":
        return { code: body.code, title: "Your smartcard is locked", message: body.message, action: "none" };
      case "no-card":
      case "timeout":
        return { code: body.code, title: "Insert your smartcard", message: body.message, action: "retry" };
      case "card-removed":
        return { code: body.code, title: "Your smartcard was removed", message: body.message, action: "retry" };
      case "no-reader":
        return { code: body.code, title: "No card reader found", message: body.message, action: "retry" };
      case "policy-violation":
        return {
          code: body.code,
          title: "Choose a different passcode",
          message: body.message,
          field: "passcode",
          action: "retry",
        };
      case "authorization-outdated":
      case "unlock-record-unreadable":
        // Nothing reached the card; only IT can put this right (the host's message says how).
        return { code: body.code, title: "Your smartcard was not changed", message: body.message, action: "none" };
      case "unlock-key-blocked":
      case "unsupported-card":
        return {
          code: body.code,
          title: "This card cannot be unlocked here",
          message: `${body.message} ${raContact}`,
          action: "none",
        };
      default:
        return {
          code: body.code,
          title: "Something went wrong with the smartcard",
          message: body.message,
          action: "retry",
        };
    }
  }
  if (error instanceof PortalError) {
    const detail = error.detail;
    switch (detail.code) {
      case "portal-unreachable":
        return { code: detail.code, title: "The portal cannot be reached", message: detail.message, action: "retry" };
      case "self-service-locked":
        return {
          code: detail.code,
          title: "Self-service is locked for your smartcard",
          message: `You have answered your security questions wrongly 3 times. ${detail.raContact}`,
          action: "none",
        };
      case "wrong-answers":
        return {
          code: detail.code,
          title: "Your answers do not match",
          message: detail.message,
          field: "answers",
          action: "retry",
        };
      case "code-invalid":
        return {
          code: detail.code,
          title: "The code is not right",
          message: detail.message,
          field: "code",
          action: "retry",
        };
      case "code-expired":
      case "code-spent":
        return {
          code: detail.code,
          title: "Get a new code",
          message: detail.message,
          field: "code",
          action: "new-code",
        };
      case "code-format":
        return { code: detail.code, title: "Check the code", message: detail.message, field: "code", action: "retry" };
      case "email-rejected":
        return {
          code: detail.code,
          title: "Use an approved email address",
          message: detail.message,
          field: "email",
          action: "retry",
        };
      case "answers-rejected":
        return {
          code: detail.code,
          title: "Check your questions and answers",
          message: detail.message,
          field: "answers",
          action: "retry",
        };
      case "flow-expired":
      case "challenge-invalid":
      case "out-of-order":
        return { code: detail.code, title: "Start again", message: detail.message, action: "restart" };
      case "self-service-unavailable":
        return {
          code: detail.code,
          title: "Self-service is not available for this card",
          message: detail.message,
          action: "none",
        };
      default:
        return { code: detail.code, title: "The portal could not do that", message: detail.message, action: "retry" };
    }
  }
  return { code: "internal", title: "Something went wrong", message: String(error), action: "retry" };
}
