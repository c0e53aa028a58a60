// Events: filter the history, page through it with QueryEvents (newest first by default).
import type { Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { broker, describeError, isAbort } from "../api.js";
import { fill, h } from "../dom.js";
import { eventTable, note } from "../event-view.js";
import { filterForm, timeRange, toFilter } from "../filters.js";
import { routeHash, type Page } from "../router.js";

const PAGE_SIZES = ["25", "50", "100", "500"];

export const eventsPage: Page = (main, { query }) => {
  const controller = new AbortController();
  const newest = query.get("newest") !== "0";
  const size = PAGE_SIZES.includes(query.get("size") ?? "") ? Number(query.get("size")) : 50;
  const results = h("section", { id: "results" });
  const pager = h("div", { class: "pager" });
  const go = (q: URLSearchParams) => (location.hash = routeHash(["events"], q));
  const option = (key: string, value: string) => {
    const q = new URLSearchParams(query);
    q.set(key, value);
    go(q);
  };
  fill(
    main,
    h("h1", {}, "Events"),
    filterForm(query, { timeRange: true, submitLabel: "Search", onSubmit: go }),
    h(
      "div",
      { class: "options" },
      h("label", {}, h("input", { type: "checkbox", name: "newest", checked: newest, onchange: () => option("newest", newest ? "0" : "1") }), " newest first"),
      h("label", {}, "page size ", h("select", { name: "size", onchange: (e) => option("size", (e.target as HTMLSelectElement).value) }, PAGE_SIZES.map((s) => h("option", { value: s, selected: Number(s) === size }, s)))),
    ),
    results,
    pager,
  );
  // Tokens of the pages before the current one, to go back.
  const tokens: string[] = [];
  const load = async (pageToken: string) => {
    fill(results, note("loading…"));
    try {
      const res = await broker.queryEvents({ filter: toFilter(query), ...timeRange(query), pageSize: size, newestFirst: newest, pageToken }, { signal: controller.signal });
      show(res.events, pageToken, res.nextPageToken);
    } catch (err) {
      if (!isAbort(err, controller.signal)) fill(results, note(describeError(err), "error"));
    }
  };
  const show = (events: readonly Event[], current: string, next: string) => {
    fill(results, events.length === 0 ? note("no event matches") : eventTable(events, { id: "event-list" }), h("p", { class: "count" }, `page ${tokens.length + 1} · ${events.length} events`));
    fill(
      pager,
      h("button", { disabled: tokens.length === 0, onclick: () => void load(tokens.pop() ?? "") }, "◀ previous"),
      h("button", { disabled: next === "", onclick: () => (tokens.push(current), void load(next)) }, "next ▶"),
    );
  };
  void load("");
  return () => controller.abort();
};
