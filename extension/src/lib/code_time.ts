// How long an emailed code has left. The portal says when it issued the code and when it
// expires, on its own clock; this PC's clock may be minutes out, so the deadline is the code's
// life counted from when the portal's answer arrived here, never the portal's expiry read on
// this PC's clock (which showed "14 minutes left" beside "this code has expired").

/** The code's deadline in milliseconds on this PC's clock. */
export function codeDeadline(sent: { issuedAt: number; expiresAt: number }, receivedAt: number): number {
  return receivedAt + Math.max(0, sent.expiresAt - sent.issuedAt) * 1000;
}

/** Whole seconds left before `deadline` at `now` (both on this PC's clock, in ms). */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}
