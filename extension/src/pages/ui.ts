// Small DOM helpers for the guided pages, styled with the NHS.UK frontend classes. Every step
// has one heading that takes focus; errors are listed in a summary that takes focus and are
// tied to their fields (aria-describedby), so screen readers announce them.

import { t } from "../lib/i18n";
import type { ConfigProblem } from "../lib/config";
import type { Problem } from "../lib/problems";

type Child = Node | string | null | undefined | false;

export function h(
  tag: string,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

/** Replaces the page's main content and moves focus sensibly: to the error summary if there
 * is a problem, else to the new step's heading. */
export function show(main: HTMLElement, title: string, problem: Problem | undefined, ...content: Child[]): void {
  const heading = h("h1", { tabindex: "-1", id: "step-heading" }, title);
  const summary = problem ? errorSummary(problem) : null;
  main.replaceChildren(
    ...[summary, heading, ...content]
      .filter((c): c is HTMLElement | string => Boolean(c))
      .map((c) => (typeof c === "string" ? document.createTextNode(c) : c)),
  );
  document.title = t(problem ? "page_title_error" : "page_title", { title });
  (summary ?? heading).focus();
  // When each step was shown, for the bench's machine time (and the browser's performance tools).
  performance.mark("step-shown", { detail: title });
}

export function errorSummary(problem: Problem): HTMLElement {
  const target = problem.field ? `#${problem.field}` : "#step-heading";
  return h(
    "div",
    {
      class: "nhsuk-error-summary",
      "aria-labelledby": "error-summary-title",
      role: "alert",
      tabindex: "-1",
      "data-problem": problem.code,
    },
    h("h2", { class: "nhsuk-error-summary__title", id: "error-summary-title" }, problem.title),
    h(
      "div",
      { class: "nhsuk-error-summary__body" },
      h(
        "ul",
        { class: "nhsuk-list nhsuk-error-summary__list" },
        h("li", {}, h("a", { href: target }, problem.message)),
      ),
    ),
  );
}

/** A labelled input with its hint and, if this field has the problem, its error message. */
export function field(options: {
  id: string;
  label: string;
  hint?: string;
  type?: string;
  value?: string;
  autocomplete?: string;
  inputmode?: string;
  problem?: Problem | undefined;
  width?: string;
}): { group: HTMLElement; input: HTMLInputElement; live: HTMLElement } {
  const erroneous = options.problem?.field === options.id;
  const describedBy = [
    options.hint ? `${options.id}-hint` : "",
    erroneous ? `${options.id}-error` : "",
    `${options.id}-live`,
  ]
    .filter(Boolean)
    .join(" ");
  const input = h("input", {
    class: `nhsuk-input${options.width ? ` nhsuk-input--width-${options.width}` : ""}${erroneous ? " nhsuk-input--error" : ""}`,
    id: options.id,
    name: options.id,
    type: options.type ?? "text",
    autocomplete: options.autocomplete ?? "off",
    inputmode: options.inputmode,
    spellcheck: "false",
    "aria-describedby": describedBy,
    "aria-invalid": erroneous ? "true" : undefined,
    value: options.value,
  }) as HTMLInputElement;
  const live = h("div", { class: "nhsuk-hint", id: `${options.id}-live`, "aria-live": "polite" });
  const group = h(
    "div",
    { class: `nhsuk-form-group${erroneous ? " nhsuk-form-group--error" : ""}` },
    h("label", { class: "nhsuk-label", for: options.id }, options.label),
    options.hint ? h("div", { class: "nhsuk-hint", id: `${options.id}-hint` }, options.hint) : null,
    erroneous
      ? h(
          "span",
          { class: "nhsuk-error-message", id: `${options.id}-error` },
          h("span", { class: "nhsuk-u-visually-hidden" }, `${t("error_prefix")} `),
          options.problem?.message ?? "",
        )
      : null,
    input,
    live,
  );
  return { group, input, live };
}

export function button(text: string, onClick: () => void, secondary = false): HTMLElement {
  const b = h("button", { class: `nhsuk-button${secondary ? " nhsuk-button--secondary" : ""}`, type: "button" }, text);
  b.addEventListener("click", onClick);
  return b;
}

/** A form whose submit (button or Enter) runs `onSubmit` once at a time. */
export function form(onSubmit: () => Promise<void>, ...children: Child[]): HTMLElement {
  const f = h("form", { novalidate: true }, ...children) as HTMLFormElement;
  let busy = false;
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    for (const b of f.querySelectorAll("button")) b.setAttribute("disabled", "");
    void onSubmit().finally(() => {
      busy = false;
    });
  });
  return f;
}

export function submit(text: string): HTMLElement {
  return h("button", { class: "nhsuk-button", type: "submit" }, text);
}

export function paragraph(text: string): HTMLElement {
  return h("p", {}, text);
}

/** IT's settings the extension could not use, for the options page and the popup. */
export function configProblems(problems: readonly ConfigProblem[]): HTMLElement[] {
  if (problems.length === 0) return [];
  return [
    h(
      "div",
      { class: "nhsuk-warning-callout", id: "config-problems" },
      h("h2", { class: "nhsuk-warning-callout__label" }, t("config_problems_title")),
      h("ul", {}, ...problems.map((p) => h("li", {}, t("config_problem", { key: p.key, detail: p.detail })))),
      h("p", {}, t("config_problems_action")),
    ),
  ];
}
