// The unlock page: renders each step of UnlockJourney.

import browser from "webextension-polyfill";
import { loadConfig } from "../lib/config";
import { PortalClient } from "../lib/portal";
import { HostRelay } from "../lib/relay";
import { UnlockJourney, type UnlockView } from "../lib/unlock";
import { loadRules, rules } from "../lib/rules";
import { button, field, form, h, paragraph, show, submit } from "./ui";
import { codeTimer } from "./shared";

async function main(): Promise<void> {
  await loadRules(browser.runtime.getURL("wasm/selfservice_rules_bg.wasm"));
  const config = await loadConfig(browser.storage);
  const journey = new UnlockJourney(new HostRelay(), new PortalClient(config.portalUrl), config.raContact);
  const main = document.getElementById("main") as HTMLElement;
  journey.onChange((view) => renderStep(main, journey, view));
  if (location.hash === "#start") {
    // Opened by the portal's Start: straight in. A reload shows the first screen again.
    history.replaceState(null, "", location.pathname);
    show(
      main,
      "Smartcard Unlock",
      undefined,
      paragraph("Reading your smartcard. If it is not in the reader yet, insert it now."),
    );
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
        "Smartcard Unlock",
        view.problem,
        paragraph(
          "Here you can unlock your Smartcard and set a new passcode. You need to have registered for the Smartcard Unlock Service to be able to do this.",
        ),
        h(
          "ol",
          { class: "nhsuk-list nhsuk-list--number" },
          h("li", {}, "Answer security questions you set during registration."),
          h("li", {}, "Enter the Unlock Code that we will send you via registered email."),
          h("li", {}, "Reset your Smartcard passcode."),
        ),
        paragraph("To start, insert your Smartcard into the Smartcard reader and select Start."),
        button("Start", () => void go(journey.start(30000))),
      );
      return;
    case "warning":
      show(
        main,
        "Check this is your smartcard",
        undefined,
        h(
          "div",
          { class: "nhsuk-warning-callout", id: "holder-warning" },
          h(
            "h2",
            { class: "nhsuk-warning-callout__label" },
            h("span", { role: "text" }, h("span", { class: "nhsuk-u-visually-hidden" }, "Important: "), "Important"),
          ),
          h(
            "p",
            {},
            "You are attempting to unlock a Smartcard issued to ",
            h("strong", {}, view.holder),
            ". If this is not you please do not proceed.",
          ),
        ),
        paragraph(
          "You should not attempt to unlock another staff member's card; this could result in disciplinary action.",
        ),
        button("Continue", () => void go(journey.confirmWarning())),
      );
      return;
    case "questions": {
      const catalogue = rules.questionCatalogue();
      const fields = view.questionIds.map((id, i) => {
        const question = catalogue.find((q) => q.id === id);
        return field({ id: `answer-${i}`, label: question?.text ?? id, hint: question?.hint, problem: view.problem });
      });
      show(
        main,
        "Answer your security questions",
        view.problem,
        paragraph(
          "To confirm your identity please answer the following security questions. These are questions that you provided when you registered for the Smartcard Unlock Service.",
        ),
        h(
          "p",
          { class: "nhsuk-body", id: "rounds-left" },
          `After ${view.roundsLeft} more failed ${view.roundsLeft === 1 ? "attempt" : "attempts"} you will not be able to proceed and will have to contact your Registration Authority.`,
        ),
        form(
          () =>
            go(
              journey.submitAnswers(
                view.questionIds.map((questionId, i) => ({ questionId, answer: fields[i]?.input.value ?? "" })),
              ),
            ),
          ...fields.map((f) => f.group),
          submit("Next"),
        ),
      );
      return;
    }
    case "code": {
      const code = field({
        id: "code",
        label: "Smartcard Unlock Code",
        inputmode: "numeric",
        width: "10",
        problem: view.problem,
        hint: `We have sent a Smartcard Unlock Code to your registered email address (${view.sentTo}). Once you receive the code, enter it below. This is not your new passcode.`,
      });
      const timer = h("p", { class: "nhsuk-body", id: "time-left" });
      codeTimer(timer, view.expiresAt);
      show(
        main,
        "Smartcard Unlock Code",
        view.problem,
        timer,
        form(() => go(journey.submitCode(code.input.value)), code.group, submit("Next")),
        button("Send a new code", () => void go(journey.newCode()), true),
      );
      return;
    }
    case "passcode": {
      const first = field({
        id: "new-passcode",
        label: "New Passcode",
        type: "password",
        width: "10",
        problem: view.problem,
        hint: view.rule.description,
      });
      const second = field({
        id: "confirm-passcode",
        label: "Confirm Passcode",
        type: "password",
        width: "10",
        problem: view.problem,
      });
      const check = (): void => {
        const verdict = rules.checkPasscode(view.rule, first.input.value);
        first.live.textContent = first.input.value && !verdict.ok ? (verdict.message ?? "") : "";
      };
      first.input.addEventListener("input", check);
      show(
        main,
        "Reset Smartcard Passcode",
        view.problem,
        h("p", { class: "nhsuk-body", id: "passcode-rule" }, view.rule.description),
        paragraph("Enter the new passcode for your Smartcard in the two boxes and select Confirm."),
        form(
          () => go(journey.submitPasscode(first.input.value, second.input.value)),
          first.group,
          second.group,
          submit("Confirm"),
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
        button("Try again", () => void go(journey.retryUnlock())),
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
        "Smartcard Unlocked",
        undefined,
        h(
          "div",
          { class: "nhsuk-panel", id: "success" },
          h("p", { class: "nhsuk-body" }, "Your Smartcard has been successfully unlocked."),
        ),
        paragraph("Please remove and then reinsert your Smartcard to log in as normal using your new passcode."),
        view.confirmed
          ? h(
              "p",
              { class: "nhsuk-body", id: "confirmed", role: "status" },
              "Your smartcard is back in the reader and unlocked. You can now log in with your new passcode.",
            )
          : null,
      );
      return;
  }
}

void main();
