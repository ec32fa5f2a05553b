// The unlock page: renders each step of UnlockJourney.

import browser from "webextension-polyfill";
import { plural, t } from "../lib/i18n";
import { passcodeRejectionText, passcodeRuleText, questionHint, questionText } from "../lib/messages";
import { PortalClient } from "../lib/portal";
import { HostRelay } from "../lib/relay";
import { UnlockJourney, type UnlockView } from "../lib/unlock";
import { loadRules, rules } from "../lib/rules";
import { startPage } from "./language";
import { button, field, form, h, paragraph, show, submit } from "./ui";
import { codeStep } from "./shared";

async function main(): Promise<void> {
  const [{ config, raContact }] = await Promise.all([
    startPage("unlock_title"),
    loadRules(browser.runtime.getURL("wasm/selfservice_rules_bg.wasm")),
  ]);
  const journey = new UnlockJourney(new HostRelay(), new PortalClient(config.portalUrl), raContact);
  const main = document.getElementById("main") as HTMLElement;
  journey.onChange((view) => renderStep(main, journey, view));
  if (location.hash === "#start") {
    // Opened by the portal's Start: straight in. A reload shows the first screen again.
    history.replaceState(null, "", location.pathname);
    show(main, t("unlock_title"), undefined, paragraph(t("unlock_reading")));
    renderStep(main, journey, await journey.start(30000));
  } else {
    renderStep(main, journey, journey.view);
  }
}

function renderStep(main: HTMLElement, journey: UnlockJourney, view: UnlockView): void {
  const go = (next: Promise<UnlockView> | UnlockView) =>
    Promise.resolve(next).then((v) => renderStep(main, journey, v));
  switch (view.step) {
    case "card":
      show(
        main,
        t("unlock_title"),
        view.problem,
        paragraph(t("unlock_intro")),
        h(
          "ol",
          { class: "nhsuk-list nhsuk-list--number" },
          h("li", {}, t("unlock_step_questions")),
          h("li", {}, t("unlock_step_code")),
          h("li", {}, t("unlock_step_passcode")),
        ),
        paragraph(t("unlock_start_hint")),
        button(t("start"), () => void go(journey.start(30000))),
      );
      return;
    case "warning": {
      // The holder's name in bold where the sentence has it, in either language.
      const [before, after] = t("unlock_warning", { holder: "\u0000" }).split("\u0000");
      show(
        main,
        view.finishing ? t("finish_unlock_title") : t("unlock_warning_title"),
        undefined,
        ...(view.finishing
          ? [h("p", { class: "nhsuk-body", id: "finish-unlocking" }, t("finish_unlock_message"))]
          : []),
        h(
          "div",
          { class: "nhsuk-warning-callout", id: "holder-warning" },
          h(
            "h2",
            { class: "nhsuk-warning-callout__label" },
            h(
              "span",
              { role: "text" },
              h("span", { class: "nhsuk-u-visually-hidden" }, `${t("important")}: `),
              t("important"),
            ),
          ),
          h("p", {}, before ?? "", h("strong", {}, view.holder), after ?? ""),
        ),
        paragraph(t("unlock_warning_discipline")),
        button(t("continue"), () => void go(journey.confirmWarning())),
      );
      return;
    }
    case "questions": {
      const fields = view.questionIds.map((id, i) => {
        const answer = field({
          id: `answer-${i}`,
          label: questionText(id),
          hint: questionHint(id),
          problem: view.problem,
        });
        // Which question this is, whatever the language (tests and assistive tools read it).
        answer.input.dataset["question"] = id;
        return answer;
      });
      show(
        main,
        t("unlock_questions_title"),
        view.problem,
        paragraph(t("unlock_questions_intro")),
        h("p", { class: "nhsuk-body", id: "rounds-left" }, plural("rounds_left", view.roundsLeft)),
        form(
          () =>
            go(
              journey.submitAnswers(
                view.questionIds.map((questionId, i) => ({ questionId, answer: fields[i]?.input.value ?? "" })),
              ),
            ),
          ...fields.map((f) => f.group),
          submit(t("next")),
        ),
      );
      return;
    }
    case "code": {
      const code = field({
        id: "code",
        label: t("unlock_code_title"),
        inputmode: "numeric",
        width: "10",
        problem: view.problem,
        hint: t("unlock_code_hint", { address: view.sentTo }),
      });
      show(
        main,
        t("unlock_code_title"),
        view.problem,
        ...codeStep(
          view,
          form(() => go(journey.submitCode(code.input.value)), code.group, submit(t("next"))),
          () => void go(journey.newCode()),
        ),
      );
      return;
    }
    case "passcode": {
      const first = field({
        id: "new-passcode",
        label: t("new_passcode_label"),
        type: "password",
        width: "10",
        problem: view.problem,
        hint: passcodeRuleText(view.rule),
      });
      const second = field({
        id: "confirm-passcode",
        label: t("confirm_passcode_label"),
        type: "password",
        width: "10",
        problem: view.problem,
      });
      const check = (): void => {
        const verdict = rules.checkPasscode(view.rule, first.input.value);
        first.live.textContent = first.input.value && !verdict.ok ? passcodeRejectionText(verdict.reason) : "";
      };
      first.input.addEventListener("input", check);
      show(
        main,
        t("unlock_passcode_title"),
        view.problem,
        h("p", { class: "nhsuk-body", id: "passcode-rule" }, passcodeRuleText(view.rule)),
        paragraph(t("unlock_passcode_intro")),
        form(
          () => go(journey.submitPasscode(first.input.value, second.input.value)),
          first.group,
          second.group,
          submit(t("confirm")),
        ),
      );
      return;
    }
    case "reinsert-to-finish":
      show(
        main,
        view.problem.title,
        undefined,
        h("div", { class: "nhsuk-warning-callout", id: "reinsert" }, h("p", {}, view.problem.message)),
      );
      return;
    case "unfinished":
      show(
        main,
        view.problem.title,
        undefined,
        h(
          "div",
          { class: "nhsuk-warning-callout", id: "unfinished", "data-card": view.card },
          h("p", {}, view.problem.message),
        ),
        button(t("try_again"), () => void go(journey.retryUnlock())),
      );
      return;
    case "locked":
      show(
        main,
        view.problem.title,
        undefined,
        h("div", { class: "nhsuk-warning-callout", id: "locked" }, h("p", {}, view.problem.message)),
      );
      return;
    case "done":
      show(
        main,
        t("unlock_done_title"),
        undefined,
        h("div", { class: "nhsuk-panel", id: "success" }, h("p", { class: "nhsuk-body" }, t("unlock_done_message"))),
        paragraph(t("unlock_done_reinsert")),
        view.confirmed
          ? h("p", { class: "nhsuk-body", id: "confirmed", role: "status" }, t("unlock_done_confirmed"))
          : null,
      );
      return;
  }
}

void main();
