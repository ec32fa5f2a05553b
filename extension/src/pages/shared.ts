// Pieces both journey pages use.

import { timeLeft } from "../lib/i18n";

/** Shows the time a code has left, counted down every second to the portal's expiry. */
export function codeTimer(element: HTMLElement, expiresAt: number): void {
  const tick = (): void => {
    const secondsLeft = expiresAt - Math.floor(Date.now() / 1000);
    element.textContent = timeLeft(secondsLeft);
    if (secondsLeft > 0 && element.isConnected) setTimeout(tick, 1000);
  };
  tick();
}
