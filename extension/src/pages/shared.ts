// Pieces both journey pages use.

import { secondsLeft } from "../lib/code_time";
import { t, timeLeft } from "../lib/i18n";
import { NEW_CODE_BUTTON, type Problem } from "../lib/problems";
import { button, h } from "./ui";

/** Shows the time a code has left, counted down every second to its deadline on this PC's clock. */
export function codeTimer(element: HTMLElement, deadline: number): void {
  const tick = (): void => {
    const left = secondsLeft(deadline, Date.now());
    element.textContent = timeLeft(left);
    if (left > 0 && element.isConnected) setTimeout(tick, 1000);
  };
  tick();
}

/**
 * The code step's content under its heading: while the code can be used, the time left, the
 * code box and "Send a new code" as the second choice; once the portal says it is expired or
 * spent, only "Send a new code", as the one way on (the error summary links to it).
 */
export function codeStep(
  view: { deadline: number; problem?: Problem },
  codeForm: HTMLElement,
  newCode: () => void,
): HTMLElement[] {
  const send = (secondary: boolean): HTMLElement => {
    const b = button(t("send_new_code"), newCode, secondary);
    b.id = NEW_CODE_BUTTON;
    return b;
  };
  if (view.problem?.action === "new-code") return [send(false)];
  const timer = h("p", { class: "nhsuk-body", id: "time-left", "aria-live": "off" });
  codeTimer(timer, view.deadline);
  return [timer, codeForm, send(true)];
}
