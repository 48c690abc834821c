/**
 * One stream's metrics over a chosen range and step, drawn with uPlot: events and errors, p50/p95/
 * p99 latency, and consumer lag, each on its own chart with units on the value axis and the
 * browser's time zone on the time axis. The pickers offer every step the API accepts; a step that
 * would exceed the API's 1,440 points for the chosen range is shown but disabled.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { ApiError, apiRequest } from "../api.ts";
import { h } from "../dom.ts";
import { timeZone, utcOffset } from "../format.ts";
import { emptyPanel, errorPanel, loadingPanel } from "../states.ts";
import type { ViewContext } from "./context.ts";

/** The API's steps (src/routes/metrics.ts, TimeseriesQuery) and its limits on them. */
const STEPS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "6h": 21_600, "1d": 86_400 } as const;
const MAX_POINTS = 1_440;
const RANGES = { "1h": 3_600, "6h": 21_600, "24h": 86_400, "7d": 604_800, "31d": 2_678_400 } as const;
type Step = keyof typeof STEPS;
type Range = keyof typeof RANGES;
const RANGE_LABELS: Record<Range, string> = {
  "1h": "Last hour",
  "6h": "Last 6 hours",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "31d": "Last 31 days",
};
const DEFAULT_STEP: Record<Range, Step> = { "1h": "1m", "6h": "5m", "24h": "15m", "7d": "1h", "31d": "6h" };

const stepFits = (range: Range, step: Step): boolean => RANGES[range] / STEPS[step] <= MAX_POINTS;

interface Point {
  t: string;
  events: number;
  bytes: number;
  errors: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
  consumer_lag: number;
}

interface Timeseries {
  stream: string;
  from: string;
  to: string;
  step: Step;
  points: Point[];
}

const pick = <T extends string>(value: string | null, allowed: readonly T[], fallback: T): T =>
  allowed.find((candidate) => candidate === value) ?? fallback;

function select(
  id: string,
  label: string,
  options: { value: string; text: string; disabled?: boolean }[],
  selected: string,
): { field: HTMLElement; input: HTMLSelectElement } {
  const input = h(
    "select",
    { id, name: id },
    ...options.map((option) =>
      h("option", { value: option.value, selected: option.value === selected, disabled: option.disabled }, option.text),
    ),
  );
  return { field: h("div", { class: "field" }, h("label", { for: id }, label), input), input };
}

interface ChartSpec {
  title: string;
  unit: string;
  series: { label: string; stroke: string; values: (point: Point) => number }[];
}

function chartSpecs(step: Step): ChartSpec[] {
  return [
    {
      title: "Events and errors",
      unit: `per ${step} step`,
      series: [
        { label: "Events", stroke: "#1f5fa8", values: (point) => point.events },
        { label: "Errors", stroke: "#b3261e", values: (point) => point.errors },
      ],
    },
    {
      title: "Latency",
      unit: "ms",
      series: [
        { label: "p50", stroke: "#2e7d32", values: (point) => point.latency_p50_ms },
        { label: "p95", stroke: "#b25e00", values: (point) => point.latency_p95_ms },
        { label: "p99", stroke: "#8e24aa", values: (point) => point.latency_p99_ms },
      ],
    },
    {
      title: "Consumer lag",
      unit: "messages",
      series: [{ label: "Lag", stroke: "#37474f", values: (point) => point.consumer_lag }],
    },
  ];
}

function drawCharts(series: Timeseries, container: HTMLElement): uPlot[] {
  const times = series.points.map((point) => Date.parse(point.t) / 1000);
  const timeAxisLabel = `Time (${timeZone()}, ${utcOffset()})`;
  const width = Math.max(320, container.clientWidth - 32);
  return chartSpecs(series.step).map((spec) => {
    const figure = h(
      "figure",
      { class: "chart", "data-chart": spec.title, "data-points": String(times.length) },
      h("figcaption", {}, `${spec.title} (${spec.unit})`),
    );
    container.append(figure);
    const chart = new uPlot(
      {
        width,
        height: 220,
        series: [
          { label: "Time" },
          ...spec.series.map((line) => ({
            label: line.label,
            stroke: line.stroke,
            width: 1.5,
            value: (_self: uPlot, value: number | null) =>
              value === null ? "–" : `${value.toLocaleString()} ${spec.unit === "ms" ? "ms" : ""}`.trim(),
          })),
        ],
        axes: [
          { label: timeAxisLabel, labelSize: 24 },
          { label: spec.unit, labelSize: 24, size: 64 },
        ],
        scales: { x: { time: true } },
      },
      [times, ...spec.series.map((line) => series.points.map(line.values))],
      figure,
    );
    // The canvas is a picture; its text alternative names the series and the number of points.
    chart.root.setAttribute("role", "img");
    chart.root.setAttribute(
      "aria-label",
      `${spec.title} of ${series.stream}, ${spec.series.map((line) => line.label).join(", ")} in ${spec.unit}, ${times.length} points`,
    );
    figure.dataset.points = String(chart.data[0].length);
    return chart;
  });
}

export function timeseriesView(
  context: ViewContext,
  params: URLSearchParams,
): { element: HTMLElement; dispose(): void } {
  const range = pick(params.get("range"), Object.keys(RANGES) as Range[], "24h");
  const requestedStep = pick(params.get("step"), Object.keys(STEPS) as Step[], DEFAULT_STEP[range]);
  const step = stepFits(range, requestedStep) ? requestedStep : DEFAULT_STEP[range];
  const controls = h("form", { class: "controls", "aria-label": "Chart options" });
  const content = h(
    "section",
    { class: "content", "aria-labelledby": "timeseries-title" },
    loadingPanel("Loading streams…"),
  );
  const element = h(
    "main",
    { id: "main", tabindex: "-1" },
    h("div", { class: "view-head" }, h("h1", { id: "timeseries-title" }, "Time series")),
    controls,
    content,
  );

  const abort = new AbortController();
  let charts: uPlot[] = [];
  let cancelPanel: () => void = () => undefined;
  let failures = 0;
  let disposed = false;
  const resize = new ResizeObserver(() => {
    for (const chart of charts) chart.setSize({ width: Math.max(320, content.clientWidth - 32), height: 220 });
  });
  resize.observe(content);

  const clearCharts = () => {
    for (const chart of charts) chart.destroy();
    charts = [];
  };

  const fail = (error: unknown, retry: () => void) => {
    if (disposed || (error instanceof DOMException && error.name === "AbortError")) return;
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) return context.sessionEnded();
    const panel = errorPanel(error, failures++, retry);
    cancelPanel = panel.cancel;
    clearCharts();
    content.replaceChildren(panel.element);
  };

  const navigate = (stream: string, nextRange: Range, nextStep: Step) => {
    location.hash = `#/timeseries?${new URLSearchParams({ stream, range: nextRange, step: stepFits(nextRange, nextStep) ? nextStep : DEFAULT_STEP[nextRange] })}`;
  };

  const loadSeries = async (stream: string) => {
    cancelPanel();
    clearCharts();
    content.replaceChildren(loadingPanel(`Loading ${stream}…`));
    const toMs = (Math.floor(Date.now() / 60_000) + 1) * 60_000;
    const query = new URLSearchParams({
      stream,
      from: new Date(toMs - RANGES[range] * 1000).toISOString(),
      to: new Date(toMs).toISOString(),
      step,
    });
    try {
      const { body } = await apiRequest<Timeseries>(`/metrics/timeseries?${query}`, { signal: abort.signal });
      if (disposed) return;
      failures = 0;
      if (body.points.length === 0)
        return void content.replaceChildren(emptyPanel(`${stream} reported nothing in this range.`));
      const summary = h(
        "p",
        {
          class: "summary",
          "data-state": "ready",
          "data-stream": body.stream,
          "data-step": body.step,
          "data-from": body.from,
          "data-to": body.to,
        },
        `${body.points.length} points of ${step} from ${new Date(body.from).toLocaleString()} to ${new Date(body.to).toLocaleString()}, times in ${timeZone()} (${utcOffset()}).`,
      );
      content.replaceChildren(summary);
      charts = drawCharts(body, content);
    } catch (error) {
      fail(error, () => void loadSeries(stream));
    }
  };

  const loadStreams = async () => {
    cancelPanel();
    try {
      const { body } = await apiRequest<{ streams: { name: string }[] }>("/streams", { signal: abort.signal });
      if (disposed) return;
      failures = 0;
      const names = body.streams.map((stream) => stream.name);
      if (names.length === 0) return void content.replaceChildren(emptyPanel("Your tenant has no streams yet."));
      const stream = pick(params.get("stream"), names, names[0]!);
      const streamSelect = select(
        "stream",
        "Stream",
        names.map((name) => ({ value: name, text: name })),
        stream,
      );
      const rangeSelect = select(
        "range",
        "Range",
        (Object.keys(RANGES) as Range[]).map((value) => ({ value, text: RANGE_LABELS[value] })),
        range,
      );
      const stepSelect = select(
        "step",
        "Step",
        (Object.keys(STEPS) as Step[]).map((value) => ({
          value,
          text: stepFits(range, value) ? value : `${value} (too many points)`,
          disabled: !stepFits(range, value),
        })),
        step,
      );
      controls.replaceChildren(streamSelect.field, rangeSelect.field, stepSelect.field);
      const onChange = () =>
        navigate(streamSelect.input.value, rangeSelect.input.value as Range, stepSelect.input.value as Step);
      for (const input of [streamSelect.input, rangeSelect.input, stepSelect.input])
        input.addEventListener("change", onChange);
      await loadSeries(stream);
    } catch (error) {
      fail(error, () => void loadStreams());
    }
  };
  void loadStreams();

  return {
    element,
    dispose: () => {
      disposed = true;
      abort.abort();
      cancelPanel();
      resize.disconnect();
      clearCharts();
    },
  };
}
