// The unlock journey (staff guide: "Smartcard Unlock"): card -> warning ("You are attempting to
// unlock a Smartcard issued to ...") -> questions -> unlock code -> new passcode twice ->
// unlocking -> done, confirmed when the card comes back unblocked.

import { API_PATHS } from "./constants";
import { HostRequestError, type HostApi } from "./host";
import type { PortalClient } from "./portal";
import { t } from "./i18n";
import { passcodeRejectionText } from "./messages";
import { codeFormatProblem, problemFrom, type Problem } from "./problems";
import type {
  AuthorizationIssued,
  CardProof,
  PasscodeRule,
  QuestionAnswer,
  UnlockReceipt,
  UnlockStarted,
} from "./rules";
import { rules } from "./rules";
import { findCard, type CardInReader } from "./cards";
import { codeDeadline } from "./code_time";

export type UnlockView =
  | { step: "card"; problem?: Problem }
  /** `finishing`: the card is unblocked by an unlock that did not set the passcode (DESIGN §4.3.3). */
  | { step: "warning"; holder: string; finishing: boolean }
  | { step: "questions"; holder: string; questionIds: string[]; roundsLeft: number; problem?: Problem }
  /** `deadline`: when the code expires, in ms on this PC's clock (lib/code_time.ts). */
  | { step: "code"; sentTo: string; deadline: number; problem?: Problem }
  | { step: "passcode"; rule: PasscodeRule; problem?: Problem }
  | { step: "reinsert-to-finish"; problem: Problem }
  /** The card was pulled and the unlock has not finished in time: what the card holds now. */
  | { step: "unfinished"; card: UnfinishedCard; problem: Problem }
  | { step: "done"; confirmed: boolean }
  | { step: "locked"; problem: Problem };

/** What the host reports of the card when an interrupted unlock has not finished. */
export type UnfinishedCard = "absent" | "locked" | "unlocked" | "unknown";

export interface UnlockJourneyOptions {
  /** How long the page waits, after the card was pulled mid-unlock, before it says where things stand. */
  stuckAfterMs?: number;
  setTimer?: (f: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** This PC's clock in ms (tests stand it still). */
  now?: () => number;
}

/** Long enough to put a card back; short enough that nobody is left staring at a page. */
export const STUCK_AFTER_MS = 30000;

export class UnlockJourney {
  view: UnlockView = { step: "card" };
  private card: CardInReader | null = null;
  private flowId = "";
  private started: UnlockStarted | null = null;
  private rule: PasscodeRule | null = null;
  /** Kept only until the card is unlocked, so a pulled card can be finished. */
  private newPasscode: string | null = null;
  private listeners: Array<(view: UnlockView) => void> = [];
  /** An unlock request is with the host (one at a time, whatever the events say). */
  private unblocking = false;
  /** The card came back while an unlock was in flight (its reply had not been handled yet). */
  private cardBack = false;
  private stuckTimer: unknown = null;
  private readonly stuckAfterMs: number;
  private readonly setTimer: (f: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly now: () => number;

  constructor(
    private readonly host: HostApi,
    private readonly portal: PortalClient,
    private readonly raContact: string,
    options: UnlockJourneyOptions = {},
  ) {
    this.stuckAfterMs = options.stuckAfterMs ?? STUCK_AFTER_MS;
    this.setTimer = options.setTimer ?? ((f, ms) => setTimeout(f, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.now = options.now ?? (() => Date.now());
    host.onEvent((event) => void this.onHostEvent(event.event));
  }

  /** Called when the view changes without a user action (card back in the reader). */
  onChange(listener: (view: UnlockView) => void): void {
    this.listeners.push(listener);
  }

  private set(view: UnlockView): UnlockView {
    this.view = view;
    if (view.step === "reinsert-to-finish") {
      this.armStuckTimer();
    } else if (this.stuckTimer !== null) {
      this.clearTimer(this.stuckTimer);
      this.stuckTimer = null;
    }
    return view;
  }

  private armStuckTimer(): void {
    if (this.stuckTimer !== null) this.clearTimer(this.stuckTimer);
    this.stuckTimer = this.setTimer(() => {
      this.stuckTimer = null;
      void this.onStuck();
    }, this.stuckAfterMs);
  }

  /** The card has not come back, or the unlock has not finished: say what the card holds. */
  private async onStuck(): Promise<void> {
    if (this.view.step !== "reinsert-to-finish") return;
    if (this.unblocking) {
      // A retry is with the host (it waits for the card itself); look again later.
      this.armStuckTimer();
      return;
    }
    this.notify(this.set(await this.unfinished()));
  }

  private async unfinished(): Promise<UnlockView> {
    let card: UnfinishedCard = "unknown";
    try {
      const found = await findCard(this.host);
      card = found.card.passcode.state === "blocked" ? "locked" : "unlocked";
    } catch (error) {
      if (error instanceof HostRequestError && (error.code === "no-card" || error.code === "no-reader"))
        card = "absent";
    }
    const ra = { ra: t("unfinished_ra", { ra: this.raContact }) };
    const messages: Record<UnfinishedCard, [string, string]> = {
      absent: [t("unfinished_absent_title"), t("unfinished_absent_message", ra)],
      locked: [t("unfinished_locked_title"), t("unfinished_locked_message", ra)],
      unlocked: [t("unfinished_unlocked_title"), t("unfinished_unlocked_message", ra)],
      unknown: [t("unfinished_unknown_title"), t("unfinished_unknown_message", ra)],
    };
    const [title, message] = messages[card];
    return { step: "unfinished", card, problem: { code: "unlock-unfinished", title, message, action: "retry" } };
  }

  /** The person asks to finish an interrupted unlock now. */
  async retryUnlock(): Promise<UnlockView> {
    if (this.view.step !== "unfinished" && this.view.step !== "reinsert-to-finish") return this.view;
    return this.unblock();
  }

  private fail(error: unknown): Problem {
    return problemFrom(error, this.raContact);
  }

  /** Finds the locked card, proves it with its card key (no passcode) and starts the flow. */
  async start(waitForCardMs = 0): Promise<UnlockView> {
    try {
      const card = await findCard(this.host, waitForCardMs);
      this.card = card;
      // A card an interrupted unlock left unblocked with a temporary PIN is finished by the
      // same journey: nobody knows its passcode, so "not locked" would strand the person.
      const finishing = card.card.passcode.state !== "blocked" && card.card.unlockUnfinished === true;
      if (card.card.passcode.state !== "blocked" && !finishing) {
        return this.set({
          step: "card",
          problem: {
            code: "not-locked",
            title: t("not_locked_title"),
            message: t("not_locked_message"),
            action: "none",
          },
        });
      }
      this.rule = card.card.passcodeRule;
      const challenge = await this.portal.post(API_PATHS.CHALLENGES, { purpose: "unlock" });
      const proof = await this.proveUnlock(challenge.nonce, card.reader);
      const started = await this.portal.post(API_PATHS.UNLOCK_START, {
        challengeId: challenge.challengeId,
        proof,
      });
      this.started = started;
      this.flowId = started.flowId;
      return this.set({ step: "warning", holder: started.holderName, finishing });
    } catch (error) {
      const problem = this.fail(error);
      return this.set(problem.code === "self-service-locked" ? { step: "locked", problem } : { step: "card", problem });
    }
  }

  /** The card's 9E proof for a portal challenge; it carries this host session's unlock key. */
  private proveUnlock(nonce: string, reader: string | undefined, waitForCardMs?: number): Promise<CardProof> {
    return this.host.request({
      type: "prove-possession",
      purpose: "unlock",
      origin: this.portal.origin,
      nonce,
      reader,
      ...(waitForCardMs === undefined ? {} : { waitForCardMs }),
    });
  }

  /** The user read the warning and goes on. */
  confirmWarning(): UnlockView {
    const started = this.started;
    if (!started) return this.view;
    return this.set({
      step: "questions",
      holder: started.holderName,
      questionIds: started.questionIds,
      roundsLeft: started.roundsLeft,
    });
  }

  async submitAnswers(answers: QuestionAnswer[]): Promise<UnlockView> {
    const current = this.view.step === "questions" ? this.view : null;
    if (!current) return this.view;
    const blank = answers.findIndex((a) => a.answer.trim() === "");
    if (blank >= 0) {
      return this.set({
        ...current,
        problem: {
          code: "blank",
          title: t("answer_every_question_title"),
          message: t("answer_every_question_message"),
          field: `answer-${blank}`,
          action: "retry",
        },
      });
    }
    try {
      const sent = await this.portal.post(API_PATHS.UNLOCK_ANSWERS, { flowId: this.flowId, answers });
      return this.set({ step: "code", sentTo: sent.sentTo, deadline: codeDeadline(sent, this.now()) });
    } catch (error) {
      const problem = this.fail(error);
      if (problem.code === "self-service-locked") return this.set({ step: "locked", problem });
      const roundsLeft = problem.code === "wrong-answers" ? current.roundsLeft - 1 : current.roundsLeft;
      return this.set({ ...current, roundsLeft, problem });
    }
  }

  async newCode(): Promise<UnlockView> {
    const current = this.view.step === "code" ? this.view : null;
    try {
      const sent = await this.portal.post(API_PATHS.UNLOCK_CODE_RESEND, { flowId: this.flowId });
      return this.set({ step: "code", sentTo: sent.sentTo, deadline: codeDeadline(sent, this.now()) });
    } catch (error) {
      return current ? this.set({ ...current, problem: this.fail(error) }) : this.view;
    }
  }

  async submitCode(typed: string): Promise<UnlockView> {
    const current = this.view.step === "code" ? this.view : null;
    if (!current) return this.view;
    const verdict = rules.parseCode(typed);
    if (!verdict.ok) {
      return this.set({ ...current, problem: codeFormatProblem(verdict.reason) });
    }
    try {
      await this.portal.post(API_PATHS.UNLOCK_CODE, { flowId: this.flowId, code: verdict.value });
      return this.set({ step: "passcode", rule: this.passcodeRule() });
    } catch (error) {
      const problem = this.fail(error);
      // The portal's word is final: an expired or spent code has no time left, whatever the
      // countdown said.
      const deadline = problem.action === "new-code" ? this.now() : current.deadline;
      return this.set({ ...current, deadline, problem });
    }
  }

  /** The effective rule for this card (the card's, narrowed by the host's organisation policy). */
  passcodeRule(): PasscodeRule {
    if (this.rule) return this.rule;
    const fallback = rules.passcodeRule("piv-strict", undefined);
    if (!fallback.ok || !fallback.value) throw new Error("no passcode rule");
    return fallback.value;
  }

  /** The new passcode twice: checked by the rules, then the card is unblocked and set. */
  async submitPasscode(passcode: string, confirmation: string): Promise<UnlockView> {
    const rule = this.passcodeRule();
    const verdict = rules.checkPasscodePair(rule, passcode, confirmation);
    if (!verdict.ok) {
      const field = verdict.reason.code === "mismatch" ? "confirm-passcode" : "new-passcode";
      return this.set({
        step: "passcode",
        rule,
        problem: {
          code: verdict.reason.code,
          title: t("check_new_passcode_title"),
          message: passcodeRejectionText(verdict.reason),
          field,
          action: "retry",
        },
      });
    }
    this.newPasscode = passcode;
    return this.unblock();
  }

  /** One unlock at a time; a card that came back while one was in flight starts the next. */
  private async unblock(): Promise<UnlockView> {
    if (this.unblocking) return this.view;
    this.unblocking = true;
    try {
      for (;;) {
        this.cardBack = false;
        const view = await this.unblockOnce();
        if (view.step !== "reinsert-to-finish" || !this.cardBack) return view;
      }
    } finally {
      this.unblocking = false;
    }
  }

  /** The view for a card that went away before the unlock finished: put it back to finish. */
  private reinsert(): UnlockView {
    return this.set({
      step: "reinsert-to-finish",
      problem: {
        code: "card-removed",
        title: t("reinsert_title"),
        message: t("reinsert_message"),
        action: "none",
      },
    });
  }

  /**
   * One attempt: a fresh card proof carrying this host session's key, an authorization whose
   * secrets only that host can open, the unlock, then the card's receipt to the portal. The
   * page never holds a PUK or the temporary PIN: they are sealed inside the authorization.
   */
  private async unblockOnce(): Promise<UnlockView> {
    const rule = this.passcodeRule();
    const passcode = this.newPasscode;
    if (passcode === null) return this.view;
    const retrying = this.view.step === "reinsert-to-finish" || this.view.step === "unfinished";
    let issued: AuthorizationIssued;
    try {
      const challenge = await this.portal.post(API_PATHS.CHALLENGES, { purpose: "unlock" });
      const proof = await this.proveUnlock(challenge.nonce, this.card?.reader, 30000);
      issued = await this.portal.post(API_PATHS.UNLOCK_AUTHORIZATION, {
        flowId: this.flowId,
        challengeId: challenge.challengeId,
        proof,
      });
    } catch (error) {
      const away =
        error instanceof HostRequestError && ["card-removed", "no-card", "timeout"].includes(error.body.code);
      if (retrying && away) return this.reinsert();
      return this.set({ step: "passcode", rule, problem: this.fail(error) });
    }
    try {
      const result = await this.host.request({
        type: "unlock",
        origin: this.portal.origin,
        authorization: issued.authorization,
        newPasscode: passcode,
        reader: this.card?.reader,
        waitForCardMs: 30000,
      });
      this.newPasscode = null;
      // The card is unlocked whatever happens to the report: a failure here is not the person's.
      await this.report(issued.authorizationId, { receipt: result.receipt }).catch(() => undefined);
      return this.set({ step: "done", confirmed: false });
    } catch (error) {
      if (error instanceof HostRequestError && error.body.code === "card-removed") {
        // The view changes before anything else is awaited, so the card coming back from
        // now on is noticed (`cardBack`) even while the report is on its way.
        const view = this.reinsert();
        await this.report(issued.authorizationId, { error: "card-removed" }).catch(() => undefined);
        return view;
      }
      const problem = this.fail(error);
      if (problem.code !== "policy-violation") this.newPasscode = null;
      return this.set({ step: "passcode", rule, problem });
    }
  }

  private report(authorizationId: string, outcome: { receipt?: UnlockReceipt; error?: string }): Promise<unknown> {
    return this.portal.post(API_PATHS.UNLOCK_RESULT, { flowId: this.flowId, authorizationId, ...outcome });
  }

  private async onHostEvent(event: string): Promise<void> {
    if (event !== "card-inserted") return;
    if (this.view.step === "reinsert-to-finish" || this.view.step === "unfinished") {
      if (this.unblocking) {
        this.cardBack = true;
        return;
      }
      this.notify(await this.unblock());
    } else if (this.view.step === "done" && !this.view.confirmed) {
      // "Please remove and then reinsert your Smartcard": confirm it now reads unblocked.
      try {
        const card = await findCard(this.host);
        if (card.card.passcode.state === "usable") this.notify(this.set({ step: "done", confirmed: true }));
      } catch {
        // Not readable yet; the next insertion tries again.
      }
    }
  }

  private notify(view: UnlockView): void {
    for (const listener of this.listeners) listener(view);
  }
}
