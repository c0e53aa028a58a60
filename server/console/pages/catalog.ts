// Catalog: every event type with its payload's fields and their rules, read from the descriptors
// compiled into the console (the same ones the broker validates with), and the NATS subject the
// broker fans each type out on.
import { getOption, hasOption, type DescField } from "@bufbuild/protobuf";
import { eventCatalog, eventDomains, type EventTypeInfo } from "../../../sdk/src/catalog/catalog.js";
import { fieldType, ruleSummary } from "../../../sdk/src/catalog/describe-field.js";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { message_rules, rules, StringFormatSchema } from "../../../sdk/src/gen/qingyu/events/v1/options_pb.js";
import { broker } from "../api.js";
import { fill, h, link, table } from "../dom.js";
import { routeHash, type Page } from "../router.js";

function fieldsTable(fields: readonly DescField[]): HTMLTableElement {
  return table(
    ["field", "type", "rules"],
    fields.map((f) => [h("code", {}, f.name), h("code", {}, fieldType(f)), ruleSummary(f, rules, StringFormatSchema)]),
    { class: "fields" },
  );
}

function entry(e: EventTypeInfo, subjects: Map<string, string>): HTMLElement {
  const sameCurrency = hasOption(e.schema, message_rules) && getOption(e.schema, message_rules).sameCurrency;
  return h(
    "article",
    { class: "event-type", id: `type-${e.type}`, "data-type": e.type },
    h("h3", {}, h("code", {}, e.type)),
    h(
      "p",
      { class: "meta" },
      `message ${e.schema.typeName} · oneof case ${e.field.name} · data version ${e.dataVersion}`,
      subjects.has(e.type) && ` · NATS subject ${subjects.get(e.type)}`,
      " · ",
      link(routeHash(["events"], new URLSearchParams({ types: e.type })), "events"),
    ),
    sameCurrency && h("p", {}, "All money fields that are set must share one currency."),
    fieldsTable(e.schema.fields),
  );
}

export const catalogPage: Page = (main, { query }) => {
  const controller = new AbortController();
  const body = h("div");
  const subjects = new Map<string, string>();
  const render = (needle: string) => {
    const shown = eventCatalog().filter((e) => e.type.includes(needle) || e.domain.includes(needle) || e.schema.name.toLowerCase().includes(needle));
    fill(
      body,
      h("p", { class: "count" }, `${shown.length} of ${eventCatalog().length} event types`),
      eventDomains()
        .filter((d) => shown.some((e) => e.domain === d))
        .map((d) => h("section", { class: "domain" }, h("h2", {}, `Domain ${d}`), shown.filter((e) => e.domain === d).map((e) => entry(e, subjects)))),
    );
  };
  const search = h("input", { type: "search", placeholder: "filter: type, domain or message", value: query.get("q") ?? "", oninput: () => render(search.value.trim().toLowerCase()) });
  fill(
    main,
    h("h1", {}, "Catalog"),
    search,
    h("details", {}, h("summary", {}, "Envelope qingyu.events.v1.Event"), fieldsTable(EventSchema.fields.filter((f) => !f.oneof))),
    body,
  );
  render(search.value.trim().toLowerCase());
  // The subjects depend on the broker's prefix: shown once it answers (the page works without).
  broker.listEventTypes({}, { signal: controller.signal }).then(
    (res) => {
      for (const t of res.eventTypes) subjects.set(t.type, t.subject);
      render(search.value.trim().toLowerCase());
    },
    () => undefined,
  );
  return () => controller.abort();
};
