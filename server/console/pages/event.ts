// One event: its envelope and payload as JSON, what caused it, and its correlation chain (the
// events sharing its correlation id, nested by causation).
import type { Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { broker, describeError, isAbort } from "../api.js";
import { facts, fill, h, link } from "../dom.js";
import { domainOf, eventJson, eventLink, note, time } from "../event-view.js";
import { routeHash, type Page } from "../router.js";

/** Events of a chain shown at most; the Events page lists the rest. */
const CHAIN_EVENTS = 1000;

export const eventPage: Page = (main, { path }) => {
  const controller = new AbortController();
  const id = path[1] ?? "";
  fill(main, h("h1", {}, "Event ", h("code", {}, id)), note("loading…"));
  broker.getEvent({ id }, { signal: controller.signal }).then(
    (res) => res.event && void show(main, res.event, controller.signal),
    (err: unknown) => isAbort(err, controller.signal) || fill(main, h("h1", {}, "Event ", h("code", {}, id)), note(describeError(err), "error")),
  );
  return () => controller.abort();
};

async function show(main: HTMLElement, e: Event, signal: AbortSignal): Promise<void> {
  const cause = h("span", {}, e.causationId === "" ? "—" : h("code", {}, e.causationId));
  const chain = h("section", { id: "chain" });
  fill(
    main,
    h("h1", {}, "Event ", h("code", {}, e.type)),
    facts([
      ["id", h("code", {}, e.id)],
      ["domain", domainOf(e)],
      ["source", e.source],
      ["subject", e.subject || "—"],
      ["time", time(e.time)],
      ["recorded", time(e.recordedTime)],
      ["position", h("code", {}, e.position)],
      ["correlation id", e.correlationId === "" ? "—" : link(routeHash(["events"], new URLSearchParams({ correlation: e.correlationId })), e.correlationId)],
      ["caused by", cause],
    ]),
    h("h2", {}, "Envelope and payload"),
    h("pre", { class: "json", id: "event-json" }, eventJson(e)),
    chain,
  );
  if (e.causationId !== "") void causeLink(e.causationId, cause, signal);
  if (e.correlationId === "") return fill(chain, h("h2", {}, "Correlation chain"), note("this event has no correlation id"));
  try {
    const res = await broker.queryEvents({ filter: { correlationId: e.correlationId }, pageSize: CHAIN_EVENTS }, { signal });
    fill(chain, h("h2", {}, `Correlation chain (${res.events.length}${res.nextPageToken ? "+" : ""} events)`), chainTree(res.events, e.id));
  } catch (err) {
    if (!isAbort(err, signal)) fill(chain, h("h2", {}, "Correlation chain"), note(describeError(err), "error"));
  }
}

/** The cause is linked when it is an event this broker has (it may be a command, or expired). */
async function causeLink(causationId: string, into: HTMLElement, signal: AbortSignal): Promise<void> {
  try {
    const res = await broker.getEvent({ id: causationId }, { signal });
    fill(into, eventLink(causationId), ` (${res.event?.type ?? "?"})`);
  } catch {
    fill(into, h("code", {}, causationId), " (not an event of this broker)");
  }
}

/** Events nested under the event that caused them; roots are those whose cause is not in the chain. */
function chainTree(events: readonly Event[], current: string): HTMLElement {
  const ids = new Set(events.map((x) => x.id));
  const children = new Map<string, Event[]>();
  const roots: Event[] = [];
  for (const x of events) {
    if (x.causationId !== "" && ids.has(x.causationId) && x.causationId !== x.id) {
      const list = children.get(x.causationId) ?? [];
      list.push(x);
      children.set(x.causationId, list);
    } else roots.push(x);
  }
  const seen = new Set<string>();
  const item = (x: Event): HTMLLIElement => {
    seen.add(x.id);
    const kids = (children.get(x.id) ?? []).filter((k) => !seen.has(k.id));
    return h(
      "li",
      { class: x.id === current ? "current" : undefined },
      h("code", {}, x.type),
      " ",
      eventLink(x.id, x.id.slice(-12)),
      ` · ${x.source} · ${time(x.recordedTime)}`,
      kids.length > 0 && h("ul", {}, kids.map(item)),
    );
  };
  return h("ul", { class: "chain" }, roots.map(item));
}
