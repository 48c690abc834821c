/**
 * The visible states of a view that loads data: loading, empty, and each failure the API can give.
 * 429 counts down from Retry-After and then tries again; 503 (or no answer at all) retries with
 * exponential backoff; 403 explains itself and stops. A 401 is not shown here: the session is
 * over, and the app goes back to sign-in. Screen readers hear the panels (status and alert roles),
 * not every 15-second refresh of the numbers.
 */
import type { ApiError } from "./api.ts";
import { countdown, h } from "./dom.ts";

export function loadingPanel(text: string): HTMLElement {
  return h(
    "div",
    { class: "panel panel-loading", role: "status", "aria-busy": "true", "data-state": "loading" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    text,
  );
}

export function emptyPanel(text: string): HTMLElement {
  return h("div", { class: "panel panel-empty", role: "status", "data-state": "empty" }, text);
}

/** Backoff after the n-th consecutive failure (0-based): 2, 4, 8 … 60 s. */
export const backoffSeconds = (attempt: number): number => Math.min(60, 2 ** (attempt + 1));

export interface ErrorPanel {
  element: HTMLElement;
  cancel(): void;
}

/** The panel for a failed load; `retry` runs when a countdown ends or the user asks for it. */
export function errorPanel(error: ApiError, attempt: number, retry: () => void): ErrorPanel {
  const detail = error.problem.detail ?? error.problem.title ?? "";
  const retryButton = h("button", { type: "button", class: "secondary" }, "Retry now");
  if (error.status === 403) {
    const element = h(
      "div",
      { class: "panel panel-error", role: "alert", "data-state": "forbidden" },
      h("h2", {}, "Not allowed"),
      h("p", {}, "Your account may not read this. ", detail),
    );
    return { element, cancel: () => undefined };
  }
  if (error.status === 429 || error.status === 503 || error.status === 0) {
    const limited = error.status === 429;
    const seconds = limited
      ? (error.retryAfterSeconds ?? 1)
      : Math.max(backoffSeconds(attempt), error.retryAfterSeconds ?? 0);
    const left = h("span", { "data-countdown": "" });
    const element = h(
      "div",
      {
        class: "panel panel-error",
        role: "alert",
        "data-state": limited ? "rate-limited" : "unavailable",
        "data-attempt": attempt,
      },
      h(
        "h2",
        {},
        limited ? "Too many requests" : error.status === 0 ? "The API cannot be reached" : "Service unavailable",
      ),
      h("p", {}, limited ? "The API asked us to slow down. " : `${detail} `, "Trying again in ", left, " s."),
      retryButton,
    );
    const stop = countdown(seconds, (secondsLeft) => (left.textContent = String(secondsLeft)), retry);
    retryButton.addEventListener("click", () => {
      stop();
      retry();
    });
    // A 429 is the API's own word on when to come back: no early retry button to earn another one.
    if (limited) retryButton.remove();
    return { element, cancel: stop };
  }
  const element = h(
    "div",
    { class: "panel panel-error", role: "alert", "data-state": "error" },
    h("h2", {}, error.problem.title ?? "Request failed"),
    h("p", {}, detail),
    retryButton,
  );
  retryButton.addEventListener("click", retry);
  return { element, cancel: () => undefined };
}
