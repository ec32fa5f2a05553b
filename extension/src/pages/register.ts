// The registration page: renders each step of RegisterJourney.

import browser from "webextension-polyfill";
import { formatDate, t } from "../lib/i18n";
import { answerRejectionText, emailRejectionText, questionHint, questionText } from "../lib/messages";
import { PortalClient } from "../lib/portal";
import { HostRelay } from "../lib/relay";
import { RegisterJourney, type RegisterView } from "../lib/register";
import { loadRules, rules, type QuestionAnswer } from "../lib/rules";
import { button, field, form, h, paragraph, show, submit } from "./ui";
import { codeStep } from "./shared";
import { startPage } from "./language";

const QUESTION_COUNT = 4;

async function main(): Promise<void> {
  const [{ config, raContact }] = await Promise.all([
    startPage("register_page_title"),
    loadRules(browser.runtime.getURL("wasm/selfservice_rules_bg.wasm")),
  ]);
  const journey = new RegisterJourney(new HostRelay(), new PortalClient(config.portalUrl), raContact);
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
        t("register_card_title"),
        view.problem,
        paragraph(t("register_card_intro")),
        button(t("continue"), () => void go(journey.start(30000))),
      );
      return;
    case "passcode": {
      const passcode = field({
        id: "passcode",
        label: t("passcode_label"),
        type: "password",
        width: "10",
        problem: view.problem,
      });
      show(
        main,
        t("register_passcode_title"),
        view.problem,
        h(
          "dl",
          { class: "nhsuk-summary-list" },
          summaryRow(t("card_reader"), view.card.reader),
          summaryRow(t("card_holder"), view.card.card.holderName ?? t("not_readable")),
          summaryRow(t("card_expires"), view.card.card.expiry ? formatDate(view.card.card.expiry) : t("unknown")),
        ),
        paragraph(t("register_passcode_intro")),
        form(() => go(journey.submitPasscode(passcode.input.value)), passcode.group, submit(t("continue"))),
      );
      return;
    }
    case "questions":
      renderQuestions(main, journey, view);
      return;
    case "email": {
      const email = field({
        id: "email",
        label: t("email_label"),
        type: "email",
        autocomplete: "email",
        value: view.emailOnFile,
        problem: view.problem,
        hint: t("email_hint"),
      });
      email.input.addEventListener("input", () => {
        const verdict = rules.checkEmail(email.input.value, undefined);
        email.live.textContent = email.input.value && !verdict.ok ? emailRejectionText(verdict.reason) : "";
      });
      show(
        main,
        t("register_email_title"),
        view.problem,
        form(() => go(journey.submitEmail(email.input.value)), email.group, submit(t("continue"))),
      );
      return;
    }
    case "code": {
      const code = field({
        id: "code",
        label: t("registration_code_label"),
        inputmode: "numeric",
        width: "10",
        problem: view.problem,
        hint: t("registration_code_hint", {
          address: view.sentTo,
          minutes: Math.round(rules.codeLifetimeSeconds() / 60),
        }),
      });
      show(
        main,
        t("register_code_title"),
        view.problem,
        ...codeStep(
          view,
          form(() => go(journey.submitCode(code.input.value)), code.group, submit(t("confirm"))),
          () => void go(journey.newCode()),
        ),
      );
      return;
    }
    case "done":
      show(
        main,
        t("register_done_title"),
        undefined,
        h("div", { class: "nhsuk-panel", id: "success" }, h("p", { class: "nhsuk-body" }, t("register_done_message"))),
        paragraph(t("register_done_next")),
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
      h("option", { value: "" }, t("choose_question")),
      ...catalogue.map((q) => h("option", { value: q.id }, questionText(q.id))),
    ) as HTMLSelectElement;
    const answer = field({ id: `answer-${i}`, label: t("answer_n", { n: i + 1 }), problem: view.problem });
    select.addEventListener("change", () => {
      // Each question once: what is chosen in one list is not offered in the others.
      const chosen = new Set(selects.map((s) => s.value).filter(Boolean));
      for (const other of selects) {
        for (const option of other.options)
          option.disabled = option.value !== "" && option.value !== other.value && chosen.has(option.value);
      }
      answer.live.textContent = select.value ? questionHint(select.value) : "";
    });
    answer.input.addEventListener("input", () => {
      if (!select.value || !answer.input.value) return;
      const verdict = rules.checkAnswer(select.value, answer.input.value);
      answer.live.textContent = verdict.ok ? "" : answerRejectionText(verdict.reason);
    });
    selects.push(select);
    answers.push(answer.input);
    groups.push(
      h(
        "fieldset",
        { class: "nhsuk-fieldset nhsuk-form-group" },
        h(
          "legend",
          { class: "nhsuk-fieldset__legend nhsuk-fieldset__legend--s" },
          t("security_question_n", { n: i + 1 }),
        ),
        h(
          "div",
          { class: "nhsuk-form-group" },
          h("label", { class: "nhsuk-label", for: selectId }, t("select_question_label")),
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
    t("register_questions_title"),
    view.problem,
    paragraph(t("register_questions_intro", { count: QUESTION_COUNT, holder: view.holder })),
    form(
      () => journey.submitAnswers(collect()).then((v) => renderStep(main, journey, v)),
      ...groups,
      submit(t("continue")),
    ),
  );
}

void main();
