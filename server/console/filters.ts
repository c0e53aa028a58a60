// The filter form shared by the Events and Live pages. Its values live in the route's query
// (#/events?types=like.added&from=…), so a filtered view can be linked to and reloaded.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventFilterSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { eventCatalog, eventDomains } from "../../sdk/src/catalog/catalog.js";
import { h } from "./dom.js";

const LIST_FIELDS = [
  ["types", "Types", "like.added, comment.*"],
  ["domains", "Domains", "social, finance"],
] as const;
const TEXT_FIELDS = [
  ["source", "Source", "social-svc"],
  ["subject", "Subject", "book/b-42 or book/*"],
  ["correlation", "Correlation id", ""],
] as const;

const list = (s: string | null): string[] => (s ?? "").split(/[\s,]+/).filter((x) => x !== "");

/** The EventFilter the route's query describes. */
export function toFilter(q: URLSearchParams): MessageInitShape<typeof EventFilterSchema> {
  return {
    types: list(q.get("types")),
    domains: list(q.get("domains")),
    sources: list(q.get("source")),
    subject: q.get("subject") ?? "",
    correlationId: q.get("correlation") ?? "",
    where: q.get("where") ?? "",
  };
}

function stamp(value: string | null): Timestamp | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : timestampFromDate(d);
}

/** from_time and to_time from the query's local date-times (absent when empty). */
export function timeRange(q: URLSearchParams): { fromTime?: Timestamp; toTime?: Timestamp } {
  const fromTime = stamp(q.get("from"));
  const toTime = stamp(q.get("to"));
  return { ...(fromTime ? { fromTime } : {}), ...(toTime ? { toTime } : {}) };
}

/** Datalists of the catalog's types and domains, for the inputs' suggestions. */
function suggestions(): HTMLElement[] {
  const types = eventCatalog().map((e) => e.type);
  return [
    h("datalist", { id: "catalog-types" }, types.map((t) => h("option", { value: t }))),
    h("datalist", { id: "catalog-domains" }, eventDomains().map((d) => h("option", { value: d }))),
  ];
}

export interface FilterFormOptions {
  /** Show the time range inputs (history); the live tail starts now. */
  timeRange: boolean;
  submitLabel: string;
  /** Called with the new query when the form is submitted. */
  onSubmit: (q: URLSearchParams) => void;
}

/** The filter form, filled from `q`. */
export function filterForm(q: URLSearchParams, options: FilterFormOptions): HTMLFormElement {
  const input = (name: string, label: string, placeholder: string, extra: Record<string, string> = {}) =>
    h("label", {}, label, h("input", { name, value: q.get(name) ?? "", placeholder, ...extra }));
  const form = h(
    "form",
    { class: "filters" },
    ...suggestions(),
    LIST_FIELDS.map(([name, label, ph]) => input(name, label, ph, { list: `catalog-${name}` })),
    TEXT_FIELDS.map(([name, label, ph]) => input(name, label, ph)),
    options.timeRange && [input("from", "From (local time)", "", { type: "datetime-local", step: "1" }), input("to", "To (local time)", "", { type: "datetime-local", step: "1" })],
    h("label", { class: "wide" }, "Where (CEL)", h("input", { name: "where", value: q.get("where") ?? "", placeholder: "event.subject.startsWith('book/')" })),
    h("button", { type: "submit" }, options.submitLabel),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (typeof v === "string" && v.trim() !== "") next.set(k, v.trim());
    for (const keep of ["newest", "size"]) if (q.has(keep)) next.set(keep, q.get(keep) ?? "");
    options.onSubmit(next);
  });
  return form;
}
