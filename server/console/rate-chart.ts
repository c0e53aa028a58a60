// Events per second by domain over the last minutes (see rate-counter.ts), drawn as one SVG line
// per domain.
import { eventDomains } from "../../sdk/src/catalog/catalog.js";
import { BUCKET_MS, WINDOW_MS } from "./rate-counter.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];

const SVG = "http://www.w3.org/2000/svg";
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function colorOf(domain: string): string {
  const i = (eventDomains() as readonly string[]).indexOf(domain);
  return COLORS[(i < 0 ? COLORS.length - 1 : i) % COLORS.length] ?? "#000";
}

/** Draws the series into `into`: lines, a y axis in events/s, and a legend with the latest rate and the window's events. */
export function drawRates(into: HTMLElement, series: Map<string, number[]>): void {
  const width = 720;
  const height = 200;
  const pad = 36;
  const max = Math.max(1, ...[...series.values()].flat());
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 20}`, class: "rates", role: "img", "aria-label": "events per second by domain" });
  chart.append(svg("line", { x1: pad, y1: height, x2: width, y2: height, class: "axis" }), svg("text", { x: 2, y: 12, class: "tick" }, `${max.toFixed(1)}/s`), svg("text", { x: 2, y: height, class: "tick" }, "0"));
  chart.append(svg("text", { x: pad, y: height + 16, class: "tick" }, `−${WINDOW_MS / 60_000} min`), svg("text", { x: width - 30, y: height + 16, class: "tick" }, "now"));
  const legend = document.createElement("ul");
  legend.className = "legend";
  for (const [domain, values] of [...series].sort(([a], [b]) => a.localeCompare(b))) {
    const step = (width - pad) / Math.max(1, values.length - 1);
    const points = values.map((v, i) => `${(pad + i * step).toFixed(1)},${(height - (v / max) * (height - 16)).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: colorOf(domain), "stroke-width": 2 }));
    // The last full bucket: the current one is still filling.
    const latest = values.at(-2) ?? 0;
    const events = Math.round(values.reduce((a, b) => a + b, 0) * (BUCKET_MS / 1000));
    const item = document.createElement("li");
    item.dataset["domain"] = domain;
    item.dataset["events"] = String(events);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorOf(domain);
    item.append(swatch, `${domain}: ${latest.toFixed(1)}/s · ${events} in ${WINDOW_MS / 60_000} min`);
    legend.append(item);
  }
  into.replaceChildren(chart, legend);
}
