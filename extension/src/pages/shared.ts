// Pieces both journey pages use.

import { rules, type CodeStatus } from "../lib/rules";

/** Shows the time a code has left, counted down every second to the portal's expiry. */
export function codeTimer(element: HTMLElement, expiresAt: number): void {
  const tick = (): void => {
    const secondsLeft = expiresAt - Math.floor(Date.now() / 1000);
    const status: CodeStatus = secondsLeft > 0 ? { state: "valid", secondsLeft } : { state: "expired" };
    element.textContent = rules.describeTimeLeft(status);
    if (status.state === "valid" && element.isConnected) setTimeout(tick, 1000);
  };
  tick();
}
