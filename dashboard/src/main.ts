/**
 * The app: on load, asks the API whether a session survived (GET /auth/session) and shows either
 * sign-in or the signed-in shell with the view the URL's hash names. Views are disposed on every
 * change, so no timer of a view outlives it.
 */
import "./style.css";
import { ApiError } from "./api.ts";
import { h } from "./dom.ts";
import { currentSession, forget, restoreSession, type Session, signOut, whenSessionExpires } from "./session.ts";
import { errorPanel, loadingPanel } from "./states.ts";
import { apiKeysView } from "./views/api-keys.ts";
import { overviewView } from "./views/overview.ts";
import { signInView } from "./views/sign-in.ts";
import { timeseriesView } from "./views/timeseries.ts";

const root = document.getElementById("app")!;
let disposeView: () => void = () => undefined;
let restoreAttempts = 0;

function mount(...elements: HTMLElement[]): void {
  root.replaceChildren(...elements);
}

function showSignIn(notice?: string): void {
  disposeView();
  forget();
  const view = signInView({ ...(notice === undefined ? {} : { notice }), onSignedIn: () => showRoute() });
  disposeView = view.dispose;
  mount(view.element);
  view.element.querySelector<HTMLInputElement>("#username")?.focus();
  document.title = "Sign in · StreamForge";
}

const sessionEnded = () => showSignIn("Your session has ended. Sign in again.");
whenSessionExpires(sessionEnded);

type Route = "overview" | "timeseries" | "keys";
const TITLES: Record<Route, string> = { overview: "Overview", timeseries: "Time series", keys: "API keys" };

function header(session: Session, active: Route): HTMLElement {
  const signOutButton = h("button", { type: "button", class: "secondary", id: "sign-out" }, "Sign out");
  const status = h("span", { class: "header-status", role: "status" });
  signOutButton.addEventListener("click", () => {
    signOutButton.disabled = true;
    signOut()
      .then(() => showSignIn("You are signed out."))
      .catch((error: unknown) => {
        signOutButton.disabled = false;
        status.textContent = `Sign-out failed: ${error instanceof Error ? error.message : String(error)}`;
      });
  });
  const link = (href: string, name: typeof active, text: string) =>
    h("a", { href, "aria-current": name === active ? "page" : undefined }, text);
  return h(
    "header",
    { class: "app-header" },
    h("a", { href: "#main", class: "skip-link" }, "Skip to content"),
    h("span", { class: "brand" }, "StreamForge"),
    h(
      "nav",
      { "aria-label": "Main" },
      link("#/overview", "overview", "Overview"),
      link("#/timeseries", "timeseries", "Time series"),
      session.principal.role === "tenant_admin" ? link("#/keys", "keys", "API keys") : null,
    ),
    h(
      "span",
      { class: "principal", "data-principal": session.principal.subject, "data-tenant": session.principal.tenant },
      `${session.principal.subject} · ${session.principal.tenant}`,
    ),
    status,
    signOutButton,
  );
}

function showRoute(): void {
  const session = currentSession();
  if (session === undefined) {
    showSignIn();
    return;
  }
  disposeView();
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  // The keys page only for a tenant admin; the API refuses everyone else anyway.
  const active: Route =
    path === "/timeseries"
      ? "timeseries"
      : path === "/keys" && session.principal.role === "tenant_admin"
        ? "keys"
        : "overview";
  const context = { sessionEnded };
  const view =
    active === "timeseries"
      ? timeseriesView(context, params)
      : active === "keys"
        ? apiKeysView(context)
        : overviewView(context, params);
  disposeView = view.dispose;
  mount(header(session, active), view.element);
  document.title = `${TITLES[active]} · StreamForge`;
}

async function boot(): Promise<void> {
  mount(h("main", { id: "main" }, loadingPanel("Checking your session…")));
  try {
    const session = await restoreSession();
    restoreAttempts = 0;
    if (session === undefined) showSignIn();
    else showRoute();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const panel = errorPanel(error, restoreAttempts++, () => void boot());
    disposeView = panel.cancel;
    mount(h("main", { id: "main" }, h("h1", {}, "StreamForge"), panel.element));
  }
}

window.addEventListener("hashchange", () => {
  if (currentSession() !== undefined) showRoute();
});
void boot();
