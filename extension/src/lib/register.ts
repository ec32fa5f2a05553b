// The registration journey (staff guide: "Self Service Registration"), as steps a page renders:
// card -> passcode -> questions -> email -> code -> done. Every rule is checked here with the
// shared rules first, then again by the host and the portal.

import { API_PATHS } from "./constants";
import type { HostApi } from "./host";
import type { PortalClient } from "./portal";
import { t } from "./i18n";
import { choiceRejectionText, emailRejectionText } from "./messages";
import { codeDeadline } from "./code_time";
import { codeFormatProblem, problemFrom, type Problem } from "./problems";
import type { CardStatus, QuestionAnswer, StatusResult } from "./rules";
import { rules } from "./rules";
import { findCard, type CardInReader } from "./cards";

export type RegisterView =
  | { step: "card"; problem?: Problem }
  | { step: "passcode"; card: CardInReader; problem?: Problem }
  | { step: "questions"; holder: string; problem?: Problem }
  | { step: "email"; emailOnFile?: string; problem?: Problem }
  /** `deadline`: when the code expires, in ms on this PC's clock (lib/code_time.ts). */
  | { step: "code"; sentTo: string; deadline: number; problem?: Problem }
  | { step: "done" };

export class RegisterJourney {
  view: RegisterView = { step: "card" };
  private card: CardInReader | null = null;
  private flowId = "";
  private holder = "";
  private emailOnFile: string | undefined;
  private email = "";

  constructor(
    private readonly host: HostApi,
    private readonly portal: PortalClient,
    private readonly raContact: string,
    /** This PC's clock in ms (tests stand it still). */
    private readonly now: () => number = () => Date.now(),
  ) {}

  private fail(error: unknown): Problem {
    return problemFrom(error, this.raContact);
  }

  /** Finds the card; the first screen shows its reader and holder. */
  async start(waitForCardMs = 0): Promise<RegisterView> {
    try {
      const card = await findCard(this.host, waitForCardMs);
      this.card = card;
      if (card.card.passcode.state === "blocked") {
        this.view = {
          step: "card",
          problem: {
            code: "passcode-blocked",
            title: t("passcode_blocked_title"),
            message: t("register_locked_message"),
            action: "none",
          },
        };
      } else {
        this.view = { step: "passcode", card };
      }
    } catch (error) {
      this.view = { step: "card", problem: this.fail(error) };
    }
    return this.view;
  }

  /** Proves the card is the user's: the passcode, then the card signs the portal's challenge. */
  async submitPasscode(passcode: string): Promise<RegisterView> {
    const card = this.card;
    if (!card) return this.start();
    if (passcode.length === 0) {
      this.view = {
        step: "passcode",
        card,
        problem: {
          code: "empty",
          title: t("enter_passcode_title"),
          message: t("enter_passcode_message"),
          field: "passcode",
          action: "retry",
        },
      };
      return this.view;
    }
    try {
      const challenge = await this.portal.post(API_PATHS.CHALLENGES, { purpose: "register" });
      const proof = await this.host.request({
        type: "prove-possession",
        purpose: "register",
        origin: this.portal.origin,
        nonce: challenge.nonce,
        passcode,
        reader: card.reader,
      });
      const started = await this.portal.post(API_PATHS.REGISTRATION_START, {
        challengeId: challenge.challengeId,
        proof,
      });
      this.flowId = started.flowId;
      this.holder = started.holderName;
      this.emailOnFile = started.emailOnFile;
      this.view = { step: "questions", holder: started.holderName };
    } catch (error) {
      this.view = { step: "passcode", card, problem: this.fail(error) };
    }
    return this.view;
  }

  async submitAnswers(answers: QuestionAnswer[]): Promise<RegisterView> {
    const verdict = rules.checkRegistrationChoice(answers);
    if (!verdict.ok) {
      const index = "index" in verdict.reason ? verdict.reason.index : undefined;
      this.view = {
        step: "questions",
        holder: this.holder,
        problem: {
          code: verdict.reason.code,
          title: t("check_answers_title"),
          message: choiceRejectionText(verdict.reason),
          field: index === undefined ? "answers" : `answer-${index}`,
          action: "retry",
        },
      };
      return this.view;
    }
    try {
      await this.portal.post(API_PATHS.REGISTRATION_QUESTIONS, { flowId: this.flowId, answers });
      this.view = this.emailOnFile ? { step: "email", emailOnFile: this.emailOnFile } : { step: "email" };
    } catch (error) {
      this.view = { step: "questions", holder: this.holder, problem: this.fail(error) };
    }
    return this.view;
  }

  async submitEmail(email: string): Promise<RegisterView> {
    const verdict = rules.checkEmail(email, undefined);
    const here = (problem: Problem): RegisterView =>
      (this.view = this.emailOnFile
        ? { step: "email", emailOnFile: this.emailOnFile, problem }
        : { step: "email", problem });
    if (!verdict.ok) {
      return here({
        code: verdict.reason.code,
        title: t("approved_email_title"),
        message: emailRejectionText(verdict.reason),
        field: "email",
        action: "retry",
      });
    }
    try {
      const sent = await this.portal.post(API_PATHS.REGISTRATION_EMAIL, { flowId: this.flowId, email });
      this.email = email;
      this.view = { step: "code", sentTo: sent.sentTo, deadline: codeDeadline(sent, this.now()) };
    } catch (error) {
      return here(this.fail(error));
    }
    return this.view;
  }

  /** Sends a new code to the same address. */
  async newCode(): Promise<RegisterView> {
    return this.submitEmail(this.email);
  }

  async submitCode(typed: string): Promise<RegisterView> {
    const current = this.view.step === "code" ? this.view : null;
    const verdict = rules.parseCode(typed);
    if (!verdict.ok) {
      if (current) this.view = { ...current, problem: codeFormatProblem(verdict.reason) };
      return this.view;
    }
    try {
      // The portal's own sentence is for its logs; the page says it in the person's language.
      await this.portal.post(API_PATHS.REGISTRATION_CONFIRM, { flowId: this.flowId, code: verdict.value });
      this.view = { step: "done" };
    } catch (error) {
      if (current) {
        const problem = this.fail(error);
        // The portal's word is final: an expired or spent code has no time left.
        const deadline = problem.action === "new-code" ? this.now() : current.deadline;
        this.view = { ...current, deadline, problem };
      }
    }
    return this.view;
  }
}

export type { CardStatus, StatusResult };
