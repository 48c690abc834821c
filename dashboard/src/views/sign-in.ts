/**
 * Sign-in: the API's field problems (400) next to their fields, one message for a wrong username
 * or password (401, the API does not say which), a live countdown from Retry-After (429) during
 * which the button stays disabled, and a plain message when the service is down.
 */
import { ApiError } from "../api.ts";
import { countdown, h } from "../dom.ts";
import { type Session, signIn } from "../session.ts";

const FIELDS = ["username", "password"] as const;
type Field = (typeof FIELDS)[number];

export function signInView(options: { notice?: string; onSignedIn: (session: Session) => void }): {
  element: HTMLElement;
  dispose(): void;
} {
  let cancelCountdown: () => void = () => undefined;
  const inputs = {} as Record<Field, HTMLInputElement>;
  const fieldErrors = {} as Record<Field, HTMLElement>;
  const rows = FIELDS.map((field) => {
    fieldErrors[field] = h("p", { class: "field-error", id: `${field}-error` });
    inputs[field] = h("input", {
      id: field,
      name: field,
      type: field === "password" ? "password" : "text",
      autocomplete: field === "password" ? "current-password" : "username",
      autocapitalize: "none",
      spellcheck: "false",
      required: true,
      "aria-describedby": `${field}-error`,
    });
    return h(
      "div",
      { class: "field" },
      h("label", { for: field }, field === "username" ? "Username" : "Password"),
      inputs[field],
      fieldErrors[field],
    );
  });
  const formError = h("div", { class: "form-error", id: "form-error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { novalidate: true, "aria-labelledby": "sign-in-title" }, ...rows, formError, submit);
  const element = h(
    "main",
    { id: "main", class: "sign-in", tabindex: "-1" },
    h("h1", { id: "sign-in-title" }, "Sign in to StreamForge"),
    options.notice === undefined
      ? null
      : h("p", { class: "notice", role: "status", "data-notice": "" }, options.notice),
    form,
  );

  const clearErrors = () => {
    formError.replaceChildren();
    formError.removeAttribute("data-state");
    for (const field of FIELDS) {
      fieldErrors[field].textContent = "";
      inputs[field].removeAttribute("aria-invalid");
    }
  };

  const showError = (error: unknown) => {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 400) {
      const unmatched: string[] = [];
      for (const problem of error.problem.errors ?? []) {
        const field = FIELDS.find((name) => problem.path === `body.${name}` || problem.path === name);
        if (field === undefined) unmatched.push(problem.message);
        else {
          fieldErrors[field].textContent = [fieldErrors[field].textContent, problem.message].filter(Boolean).join("; ");
          inputs[field].setAttribute("aria-invalid", "true");
        }
      }
      if (unmatched.length > 0 || (error.problem.errors ?? []).length === 0)
        formError.textContent = unmatched.join("; ") || (error.problem.detail ?? "Check the form.");
      formError.dataset.state = "invalid";
      inputs[FIELDS.find((field) => inputs[field].hasAttribute("aria-invalid")) ?? "username"].focus();
    } else if (error.status === 401) {
      formError.textContent = "Wrong username or password.";
      formError.dataset.state = "wrong-credentials";
      inputs.password.select();
    } else if (error.status === 429 || error.status === 503 || error.status === 0) {
      const limited = error.status === 429;
      const left = h("span", { "data-countdown": "" });
      formError.append(limited ? "Too many sign-in attempts. " : `${error.message} `, "Try again in ", left, " s.");
      formError.dataset.state = limited ? "rate-limited" : "unavailable";
      submit.disabled = true;
      cancelCountdown = countdown(
        error.retryAfterSeconds ?? (limited ? 60 : 5),
        (secondsLeft) => (left.textContent = String(secondsLeft)),
        () => {
          submit.disabled = false;
          formError.replaceChildren("You can try again now.");
          formError.dataset.state = "ready";
        },
      );
    } else {
      formError.textContent = error.message;
      formError.dataset.state = "error";
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    clearErrors();
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    signIn(inputs.username.value, inputs.password.value)
      .then((session) => {
        inputs.password.value = "";
        options.onSignedIn(session);
      })
      .catch((error: unknown) => {
        submit.disabled = false;
        showError(error);
      })
      .finally(() => submit.removeAttribute("aria-busy"));
  });

  return { element, dispose: () => cancelCountdown() };
}
