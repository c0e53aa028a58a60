// Live tail: a Subscribe stream from now with the Events page's filters. Pause ends the stream and
// keeps its last position; resume subscribes after it, so nothing committed meanwhile is missed.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SubscribeRequestSchema } from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import type { Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { broker, describeError, isAbort } from "../api.js";
import { fill, h } from "../dom.js";
import { eventLink, note, time } from "../event-view.js";
import { filterForm, toFilter } from "../filters.js";
import { routeHash, type Page } from "../router.js";

/** Rows the page keeps; older ones are dropped from the bottom. */
const MAX_ROWS = 500;

export const livePage: Page = (main, { query }) => {
  let controller: AbortController | undefined;
  let position = "";
  let received = 0;
  const status = h("span", { id: "live-status", class: "status" });
  const button = h("button", { id: "live-toggle", onclick: () => (controller ? pause() : resume()) });
  const rows = h("tbody", { id: "live-rows" });
  const problem = h("div");
  fill(
    main,
    h("h1", {}, "Live tail"),
    filterForm(query, { timeRange: false, submitLabel: "Tail", onSubmit: (q) => (location.hash = routeHash(["live"], q)) }),
    h("div", { class: "options" }, button, " ", status),
    problem,
    h("table", { class: "events" }, h("thead", {}, h("tr", {}, ["recorded (UTC)", "type", "source", "subject", "id"].map((x) => h("th", {}, x)))), rows),
  );
  const show = (text: string, live: boolean) => {
    status.textContent = text;
    button.textContent = live ? "Pause" : "Resume";
  };
  const add = (e: Event) => {
    received++;
    rows.prepend(h("tr", {}, h("td", {}, time(e.recordedTime)), h("td", {}, h("code", {}, e.type)), h("td", {}, e.source), h("td", {}, e.subject), h("td", {}, eventLink(e.id))));
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild?.remove();
  };
  const run = async (c: AbortController) => {
    const start: MessageInitShape<typeof SubscribeRequestSchema>["start"] = position === "" ? { case: "fromNow", value: true } : { case: "afterPosition", value: position };
    try {
      for await (const res of broker.subscribe({ filter: toFilter(query), start }, { signal: c.signal })) {
        if (res.kind.case === "event") {
          position = res.kind.value.position;
          add(res.kind.value);
        } else if (res.kind.case === "caughtUp" || res.kind.case === "checkpoint") {
          position = res.kind.value.position || position;
        }
        if (res.kind.case !== "checkpoint") show(`live · ${received} events`, true);
      }
      if (controller === c) (controller = undefined), show("the broker ended the stream", false);
    } catch (err) {
      if (isAbort(err, c.signal)) return;
      if (controller === c) controller = undefined;
      show("stopped", false);
      fill(problem, note(describeError(err), "error"));
    }
  };
  const resume = () => {
    fill(problem);
    controller = new AbortController();
    show(position === "" ? "connecting…" : `resuming after ${position}…`, true);
    void run(controller);
  };
  const pause = () => {
    controller?.abort();
    controller = undefined;
    show(`paused · ${received} events${position === "" ? "" : ` · resumes after ${position}`}`, false);
  };
  resume();
  return () => controller?.abort();
};
