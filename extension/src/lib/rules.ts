// The shared rules, compiled from `wasm/` (selfservice-rules): the same passcode, email,
// question and code checks the host and the portal apply, and the message types.

import init, * as wasm from "../../../wasm/pkg/selfservice_rules.js";

export type * from "../../../wasm/pkg/selfservice_rules.js";
export const rules = wasm;

let loading: Promise<unknown> | null = null;

/** Loads the wasm module once, from the extension's own files. The "rules-ready" User Timing
 * mark says when (the bench reads it; so can anyone in the browser's performance tools). */
export function loadRules(url: string): Promise<unknown> {
  loading ??= init({ module_or_path: url }).then((module) => {
    performance.mark("rules-ready");
    return module;
  });
  return loading;
}

/** For tests under Node: instantiate from bytes. */
export function loadRulesSync(bytes: BufferSource): void {
  wasm.initSync({ module: bytes });
}
