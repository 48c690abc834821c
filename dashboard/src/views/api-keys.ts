/**
 * A tenant admin's API keys (GET/POST /tenant/keys, roll, revoke). A new key is shown once, in a
 * read-only field with a copy button and a warning, and never kept: the page drops it on the next
 * render. Roll and revoke each ask for a confirmation in the row itself (no modal `confirm()`,
 * which a screen reader user cannot review), naming the key. Every text the API returns goes in as
 * text (dom.ts), so a key name can never become markup.
 */
import { ApiError, apiRequest } from "../api.ts";
import { h } from "../dom.ts";
import { emptyPanel, errorPanel, loadingPanel } from "../states.ts";
import type { ViewContext } from "./context.ts";

interface TenantKey {
  id: string;
  name: string;
  scopes: string[];
  rate_limit: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  state: "active" | "rolling" | "expired" | "revoked";
  refused_from: string | null;
  revoked_reason: string | null;
  issued_by: "tenant" | "operator";
}

const GRACE_CHOICES = [
  [0, "no grace period"],
  [3600, "1 hour"],
  [86_400, "24 hours"],
] as const;

const day = (iso: string | null) => (iso === null ? "never" : iso.slice(0, 16).replace("T", " "));

function stateText(key: TenantKey): string {
  if (key.state === "revoked") return key.revoked_reason === null ? "revoked" : `revoked: ${key.revoked_reason}`;
  if (key.state === "rolling") return `rolling: refused from ${day(key.refused_from)}`;
  return key.state;
}

export function apiKeysView(context: ViewContext): { element: HTMLElement; dispose(): void } {
  const controller = new AbortController();
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const shown = h("div", { id: "new-key" });
  const list = h("div", {}, loadingPanel("Loading keys…"));
  const main = h("main", { id: "main" }, h("h1", {}, "API keys"), status, shown, createForm(), list);

  const failed = (error: unknown) => {
    if (error instanceof DOMException && error.name === "AbortError") return;
    if (error instanceof ApiError && error.status === 401) return context.sessionEnded();
    status.textContent =
      error instanceof ApiError ? `${error.problem.title}: ${error.problem.detail ?? ""}` : String(error);
  };

  function showOnce(key: string, action: string) {
    const field = h("input", {
      id: "new-key-value",
      type: "text",
      readonly: true,
      value: key,
      "aria-describedby": "new-key-warning",
    });
    const copy = h("button", { type: "button", id: "copy-key" }, "Copy");
    copy.addEventListener("click", () => {
      navigator.clipboard.writeText(key).then(
        () => (status.textContent = "Key copied."),
        () => (status.textContent = "Copy failed: select the key and copy it."),
      );
    });
    shown.replaceChildren(
      h(
        "section",
        { class: "card new-key", "aria-labelledby": "new-key-title" },
        h("h2", { id: "new-key-title" }, `Key ${action}`),
        h("p", { id: "new-key-warning", class: "warning" }, "Copy it now: it is shown once and never again."),
        h("label", { for: "new-key-value" }, "Key"),
        field,
        copy,
      ),
    );
    field.focus();
    field.select();
  }

  function createForm(): HTMLElement {
    const name = h("input", { id: "key-name", name: "name", required: true, maxlength: 64, autocomplete: "off" });
    const scope = (value: string) =>
      h(
        "label",
        {},
        h("input", { type: "checkbox", name: "scopes", value, checked: value === "streams:read" }),
        ` ${value}`,
      );
    const rate = h("input", { id: "key-rate", name: "rate_limit", placeholder: "tenant ceiling", maxlength: 20 });
    const days = h("input", { id: "key-days", name: "expires_in_days", type: "number", min: 1, max: 366, value: 90 });
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "create-title" },
      h("h2", { id: "create-title" }, "Create key"),
      h("label", { for: "key-name" }, "Name"),
      name,
      h("fieldset", {}, h("legend", {}, "Scopes"), scope("metrics:read"), scope("streams:read")),
      h("label", { for: "key-rate" }, "Rate limit (e.g. 100/minute)"),
      rate,
      h("label", { for: "key-days" }, "Expires in (days)"),
      days,
      h("button", { type: "submit", id: "create-key" }, "Create key"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const scopes = [...form.querySelectorAll<HTMLInputElement>("input[name=scopes]:checked")].map((box) => box.value);
      const body = {
        name: name.value,
        scopes,
        ...(rate.value === "" ? {} : { rate_limit: rate.value }),
        expires_in_days: Number(days.value),
      };
      apiRequest<{ key: string }>("/tenant/keys", { method: "POST", json: body, signal: controller.signal })
        .then(({ body: made }) => {
          showOnce(made.key, "created");
          name.value = "";
          return load();
        })
        .catch(failed);
    });
    return form;
  }

  /** The row's buttons, replaced by a confirmation that names the key and the action. */
  function actions(key: TenantKey): HTMLElement {
    const cell = h("td", {});
    const grace = h(
      "select",
      { "aria-label": `Grace period for ${key.name}` },
      ...GRACE_CHOICES.map(([seconds, label]) => h("option", { value: seconds }, label)),
    );
    const confirmStep = (label: string, run: () => Promise<void>) => {
      const yes = h("button", { type: "button", class: "danger", "data-confirm": key.id }, `Confirm: ${label}`);
      const no = h("button", { type: "button", class: "secondary" }, "Cancel");
      yes.addEventListener("click", () => {
        yes.disabled = true;
        run().catch(failed);
      });
      no.addEventListener("click", () => cell.replaceChildren(...buttons()));
      cell.replaceChildren(h("span", {}, `${label} “${key.name}”?`), yes, no);
      yes.focus();
    };
    const buttons = () => {
      if (key.state !== "active") return [];
      const roll = h("button", { type: "button", "data-roll": key.id }, "Roll");
      const revoke = h("button", { type: "button", class: "secondary", "data-revoke": key.id }, "Revoke");
      roll.addEventListener("click", () =>
        confirmStep("roll", async () => {
          const { body } = await apiRequest<{ key: string }>(`/tenant/keys/${key.id}/roll`, {
            method: "POST",
            json: { grace_seconds: Number(grace.value) },
            signal: controller.signal,
          });
          showOnce(body.key, "rolled");
          await load();
        }),
      );
      revoke.addEventListener("click", () =>
        confirmStep("revoke", async () => {
          await apiRequest(`/tenant/keys/${key.id}/revoke`, { method: "POST", signal: controller.signal });
          status.textContent = `Key “${key.name}” revoked.`;
          await load();
        }),
      );
      // An operator's key is revoked here, never rolled (src/routes/tenant-keys.ts says why).
      return key.issued_by === "operator" ? [revoke] : [grace, roll, revoke];
    };
    cell.replaceChildren(...buttons());
    return cell;
  }

  function render(keys: TenantKey[]) {
    if (keys.length === 0) return list.replaceChildren(emptyPanel("No keys yet."));
    const header = ["Name", "Id", "Scopes", "Created", "Expires", "Last used", "State", "Actions"];
    list.replaceChildren(
      h(
        "table",
        { class: "keys" },
        h("caption", {}, "Keys of this tenant"),
        h("thead", {}, h("tr", {}, ...header.map((text) => h("th", { scope: "col" }, text)))),
        h(
          "tbody",
          {},
          ...keys.map((key) =>
            h(
              "tr",
              { "data-key": key.id, "data-state": key.state },
              h(
                "th",
                { scope: "row" },
                key.issued_by === "operator" ? `${key.name} (issued by the operator)` : key.name,
              ),
              h("td", {}, h("code", {}, key.id)),
              h("td", {}, key.scopes.join(", ")),
              h("td", {}, day(key.created_at)),
              h("td", {}, day(key.expires_at)),
              h("td", {}, day(key.last_used_at)),
              h("td", { "data-state-text": "" }, stateText(key)),
              actions(key),
            ),
          ),
        ),
      ),
    );
  }

  let attempt = 0;
  async function load(): Promise<void> {
    try {
      const { body } = await apiRequest<{ keys: TenantKey[] }>("/tenant/keys", { signal: controller.signal });
      attempt = 0;
      render(body.keys);
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401 && error.status !== 403) {
        const panel = errorPanel(error, attempt++, () => void load());
        list.replaceChildren(panel.element);
        return;
      }
      failed(error);
    }
  }
  void load();
  return { element: main, dispose: () => controller.abort() };
}
