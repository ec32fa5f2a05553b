// The registration page: renders each step of RegisterJourney.

import browser from "webextension-polyfill";
import { loadConfig } from "../lib/config";
import { PortalClient } from "../lib/portal";
import { HostRelay } from "../lib/relay";
import { RegisterJourney, type RegisterView } from "../lib/register";
import { loadRules, rules, type QuestionAnswer } from "../lib/rules";
import { button, field, form, h, paragraph, show, submit } from "./ui";
import { codeTimer } from "./shared";

const QUESTION_COUNT = 4;

async function main(): Promise<void> {
  await loadRules(browser.runtime.getURL("wasm/selfservice_rules_bg.wasm"));
  const config = await loadConfig(browser.storage);
  const journey = new RegisterJourney(new HostRelay(), new PortalClient(config.portalUrl), config.raContact);
  const main = document.getElementById("main") as HTMLElement;
  const render = (view: RegisterView): void => renderStep(main, journey, view);
  render(await journey.start());
}

function renderStep(main: HTMLElement, journey: RegisterJourney, view: RegisterView): void {
  const go = (next: Promise<RegisterView>) => next.then((v) => renderStep(main, journey, v));
  switch (view.step) {
    case "card":
      show(
        main,
        "Insert your smartcard",
        view.problem,
        paragraph(
          "To register for Smartcard Self-Service, put your smartcard in the card reader. It must be unlocked: you will be asked for its passcode.",
        ),
        button("Continue", () => void go(journey.start(30000))),
      );
      return;
    case "passcode": {
      const passcode = field({
        id: "passcode",
        label: "Passcode",
        type: "password",
        width: "10",
        problem: view.problem,
      });
      show(
        main,
        "Enter your smartcard passcode",
        view.problem,
        h(
          "dl",
          { class: "nhsuk-summary-list" },
          summaryRow("Card reader", view.card.reader),
          summaryRow("Card holder", view.card.card.holderName ?? "Not readable"),
          summaryRow("Card expires", view.card.card.expiry ?? "Unknown"),
        ),
        paragraph(
          "Enter your smartcard passcode to prove the card is yours. Self-service registration has 4 steps: passcode, security questions, email address, registration code.",
        ),
        form(() => go(journey.submitPasscode(passcode.input.value)), passcode.group, submit("Continue")),
      );
      return;
    }
    case "questions":
      renderQuestions(main, journey, view);
      return;
    case "email": {
      const email = field({
        id: "email",
        label: "Email address",
        type: "email",
        autocomplete: "email",
        value: view.emailOnFile,
        problem: view.problem,
        hint: "Use an address from a provider approved for use with the Spine, for example nhs.net, nhs.uk, gov.uk or mod.uk. We will send your registration code to it.",
      });
      email.input.addEventListener("input", () => {
        const verdict = rules.checkEmail(email.input.value, undefined);
        email.live.textContent = email.input.value && !verdict.ok ? (verdict.message ?? "") : "";
      });
      show(
        main,
        "Confirm your email address",
        view.problem,
        form(() => go(journey.submitEmail(email.input.value)), email.group, submit("Continue")),
      );
      return;
    }
    case "code": {
      const code = field({
        id: "code",
        label: "Registration code",
        inputmode: "numeric",
        width: "10",
        problem: view.problem,
        hint: `We have sent a registration code to ${view.sentTo}. It is valid for 15 minutes. Check your junk folder if it has not arrived.`,
      });
      const timer = h("p", { class: "nhsuk-body", id: "time-left", "aria-live": "off" });
      codeTimer(timer, view.expiresAt);
      show(
        main,
        "Enter your registration code",
        view.problem,
        timer,
        form(() => go(journey.submitCode(code.input.value)), code.group, submit("Confirm")),
        button("Send a new code", () => void go(journey.newCode()), true),
      );
      return;
    }
    case "done":
      show(
        main,
        "Registration complete",
        undefined,
        h("div", { class: "nhsuk-panel", id: "success" }, h("p", { class: "nhsuk-body" }, `Success: ${view.message}`)),
        paragraph(
          "Now that you have registered, you can unlock your own smartcard if it locks. You can close this page.",
        ),
      );
      return;
  }
}

function summaryRow(key: string, value: string): HTMLElement {
  return h(
    "div",
    { class: "nhsuk-summary-list__row" },
    h("dt", { class: "nhsuk-summary-list__key" }, key),
    h("dd", { class: "nhsuk-summary-list__value" }, value),
  );
}

function renderQuestions(
  main: HTMLElement,
  journey: RegisterJourney,
  view: Extract<RegisterView, { step: "questions" }>,
): void {
  const catalogue = rules.questionCatalogue();
  const selects: HTMLSelectElement[] = [];
  const answers: HTMLInputElement[] = [];
  const groups: HTMLElement[] = [];
  for (let i = 0; i < QUESTION_COUNT; i++) {
    const selectId = `question-${i}`;
    const select = h(
      "select",
      { class: "nhsuk-select", id: selectId, name: selectId },
      h("option", { value: "" }, "Please select a question"),
      ...catalogue.map((q) => h("option", { value: q.id }, q.text)),
    ) as HTMLSelectElement;
    const answer = field({ id: `answer-${i}`, label: `Answer ${i + 1}`, problem: view.problem });
    select.addEventListener("change", () => {
      // Each question once: what is chosen in one list is not offered in the others.
      const chosen = new Set(selects.map((s) => s.value).filter(Boolean));
      for (const other of selects) {
        for (const option of other.options)
          option.disabled = option.value !== "" && option.value !== other.value && chosen.has(option.value);
      }
      const question = catalogue.find((q) => q.id === select.value);
      answer.live.textContent = question ? question.hint : "";
    });
    answer.input.addEventListener("input", () => {
      if (!select.value || !answer.input.value) return;
      const verdict = rules.checkAnswer(select.value, answer.input.value);
      answer.live.textContent = verdict.ok ? "" : (verdict.message ?? "");
    });
    selects.push(select);
    answers.push(answer.input);
    groups.push(
      h(
        "fieldset",
        { class: "nhsuk-fieldset nhsuk-form-group" },
        h("legend", { class: "nhsuk-fieldset__legend nhsuk-fieldset__legend--s" }, `Security question ${i + 1}`),
        h(
          "div",
          { class: "nhsuk-form-group" },
          h("label", { class: "nhsuk-label", for: selectId }, "Question"),
          select,
        ),
        answer.group,
      ),
    );
  }
  const collect = (): QuestionAnswer[] =>
    selects.map((s, i) => ({ questionId: s.value, answer: answers[i]?.value ?? "" }));
  show(
    main,
    "Choose your security questions",
    view.problem,
    paragraph(
      `Choose and answer 4 different security questions, ${view.holder}. They will be used to prove your identity if your smartcard locks. Choose questions you will remember the answers to; your answers are stored securely and cannot be seen by anyone.`,
    ),
    form(
      () => journey.submitAnswers(collect()).then((v) => renderStep(main, journey, v)),
      ...groups,
      submit("Continue"),
    ),
  );
}

void main();
