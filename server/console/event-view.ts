// How events are shown: a table row each, and the whole envelope as JSON with the catalog's
// (proto) field names.
import { toJson } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { EventSchema, type Event } from "../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { catalogEntry } from "../../sdk/src/catalog/catalog.js";
import { h, link, table } from "./dom.js";
import { routeHash } from "./router.js";

export function time(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString().replace("T", " ").replace("Z", "") : "";
}

export function domainOf(e: Event): string {
  return catalogEntry(e.type)?.domain ?? "?";
}

export function eventLink(id: string, label: string = id): HTMLAnchorElement {
  return link(routeHash(["event", id]), label);
}

/** The envelope and its payload as JSON, e.g. {"id": …, "like_added": {"user_id": …}}. */
export function eventJson(e: Event): string {
  return JSON.stringify(toJson(EventSchema, e, { useProtoFieldName: true }), null, 2);
}

/** A table of events: recorded time, type, source, subject, correlation and a link to each. */
export function eventTable(events: readonly Event[], attrs: Record<string, string> = {}): HTMLTableElement {
  return table(
    ["recorded (UTC)", "type", "source", "subject", "correlation id", "id"],
    events.map((e) => [time(e.recordedTime), h("code", {}, e.type), e.source, e.subject, e.correlationId, eventLink(e.id)]),
    { class: "events", ...attrs },
  );
}

/** A message line: an error in red, anything else plain. */
export function note(text: string, kind: "error" | "info" = "info"): HTMLParagraphElement {
  return h("p", { class: `note ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
