/**
 * The overview of the signed-in tenant for one window, refreshed on a timer paced by the API's
 * RateLimit header (rate-limit.ts). The numbers carry their raw values in `data-value`, so a test
 * can compare them with the API's answer exactly.
 */
import { ApiError, apiRequest } from "../api.ts";
import { h } from "../dom.ts";
import { formatBytes, formatDecimal, formatInteger, formatMs, formatPercent } from "../format.ts";
import { nextRefresh } from "../rate-limit.ts";
import { emptyPanel, errorPanel, loadingPanel } from "../states.ts";
import type { ViewContext } from "./context.ts";

const WINDOWS = ["15m", "1h", "24h", "7d"] as const;
type OverviewWindow = (typeof WINDOWS)[number];
const WINDOW_LABELS: Record<OverviewWindow, string> = {
  "15m": "15 minutes",
  "1h": "1 hour",
  "24h": "24 hours",
  "7d": "7 days",
};
/** Refresh interval while the API has permits to spare. */
const BASE_REFRESH_MS = 15_000;

interface Overview {
  tenant: string;
  window: OverviewWindow;
  from: string;
  to: string;
  events: number;
  events_per_second: number;
  bytes: number;
  error_rate: number;
  latency_p95_ms: number | null;
  active_streams: number;
  top_streams: { stream: string; events: number; error_rate: number }[];
}

function metric(name: string, label: string, value: number | null, text: string): HTMLElement {
  return h(
    "div",
    { class: "card" },
    h("dt", {}, label),
    h("dd", { "data-metric": name, "data-value": value === null ? "null" : String(value) }, text),
  );
}

function renderOverview(overview: Overview): HTMLElement {
  const cards = h(
    "dl",
    { class: "cards" },
    metric("events", "Events", overview.events, formatInteger(overview.events)),
    metric(
      "events_per_second",
      "Events per second",
      overview.events_per_second,
      formatDecimal(overview.events_per_second),
    ),
    metric("bytes", "Bytes", overview.bytes, formatBytes(overview.bytes)),
    metric("error_rate", "Error rate", overview.error_rate, formatPercent(overview.error_rate)),
    metric("latency_p95_ms", "p95 latency", overview.latency_p95_ms, formatMs(overview.latency_p95_ms)),
    metric("active_streams", "Active streams", overview.active_streams, formatInteger(overview.active_streams)),
  );
  const top =
    overview.top_streams.length === 0
      ? emptyPanel("No stream reported events in this window.")
      : h(
          "table",
          { class: "top-streams" },
          h("caption", {}, "Top five streams by events"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Stream"),
              h("th", { scope: "col", class: "num" }, "Events"),
              h("th", { scope: "col", class: "num" }, "Error rate"),
            ),
          ),
          h(
            "tbody",
            {},
            ...overview.top_streams.map((stream) =>
              h(
                "tr",
                { "data-stream": stream.stream },
                h(
                  "th",
                  { scope: "row" },
                  h("a", { href: `#/timeseries?stream=${encodeURIComponent(stream.stream)}` }, stream.stream),
                ),
                h("td", { class: "num", "data-value": String(stream.events) }, formatInteger(stream.events)),
                h("td", { class: "num", "data-value": String(stream.error_rate) }, formatPercent(stream.error_rate)),
              ),
            ),
          ),
        );
  return h(
    "div",
    {
      "data-state": "ready",
      "data-from": overview.from,
      "data-to": overview.to,
      "data-tenant": overview.tenant,
      "data-window": overview.window,
    },
    cards,
    h("h2", {}, "Top streams"),
    top,
  );
}

export function overviewView(context: ViewContext, params: URLSearchParams): { element: HTMLElement; dispose(): void } {
  const requested = params.get("window");
  const window: OverviewWindow = WINDOWS.find((candidate) => candidate === requested) ?? "1h";
  const content = h(
    "section",
    { class: "content", "aria-labelledby": "overview-title" },
    loadingPanel("Loading the overview…"),
  );
  const refreshStatus = h("p", { class: "refresh-status", "data-refresh": "" });
  const windowPicker = h(
    "div",
    { class: "segmented", role: "group", "aria-label": "Window" },
    ...WINDOWS.map((candidate) =>
      h(
        "a",
        {
          href: `#/overview?window=${candidate}`,
          class: "segment",
          "aria-current": candidate === window ? "true" : undefined,
        },
        candidate,
        h("span", { class: "visually-hidden" }, `, last ${WINDOW_LABELS[candidate]}`),
      ),
    ),
  );
  const element = h(
    "main",
    { id: "main", tabindex: "-1" },
    h(
      "div",
      { class: "view-head" },
      h("h1", { id: "overview-title" }, `Overview, last ${WINDOW_LABELS[window]}`),
      windowPicker,
    ),
    refreshStatus,
    content,
  );

  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancelPanel: () => void = () => undefined;
  let failures = 0;
  let disposed = false;
  const abort = new AbortController();

  const schedule = (delayMs: number, note: string) => {
    timer = setTimeout(() => void load(), delayMs);
    refreshStatus.textContent = `${note} Next refresh in ${Math.round(delayMs / 1000)} s.`;
    refreshStatus.dataset.delayMs = String(delayMs);
  };

  const load = async () => {
    cancelPanel();
    try {
      const { body, rateLimit } = await apiRequest<Overview>(`/metrics/overview?window=${window}`, {
        signal: abort.signal,
      });
      if (disposed) return;
      failures = 0;
      content.replaceChildren(renderOverview(body));
      const plan = nextRefresh(rateLimit, BASE_REFRESH_MS);
      const slowed =
        plan.limitedBy === undefined
          ? ""
          : ` Slowed down: ${plan.limitedBy.remaining} requests left in this rate-limit window.`;
      schedule(plan.delayMs, `Updated ${new Date().toLocaleTimeString()}.${slowed}`);
    } catch (error) {
      if (disposed || (error instanceof DOMException && error.name === "AbortError")) return;
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 401) return context.sessionEnded();
      const panel = errorPanel(error, failures++, () => void load());
      cancelPanel = panel.cancel;
      content.replaceChildren(panel.element);
      refreshStatus.textContent = "";
    }
  };
  void load();

  return {
    element,
    dispose: () => {
      disposed = true;
      abort.abort();
      cancelPanel();
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
