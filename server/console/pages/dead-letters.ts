// A group's dead letters, each with every attempt; redrive or purge some or all, after confirming.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DeadLetter, DeadLetterSelectorSchema } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { describeError, groups, isAbort } from "../api.js";
import { fill, h, table } from "../dom.js";
import { eventLink, note, time } from "../event-view.js";

const PAGE_SIZE = 100;
type Selector = MessageInitShape<typeof DeadLetterSelectorSchema>;
type Verb = "redrive" | "purge";

/** What the operator confirms: `count` selected dead letters, or every one when undefined. */
function question(verb: Verb, count: number | undefined, group: string): string {
  const which = count === undefined ? "every dead letter" : `${count} selected dead letter${count === 1 ? "" : "s"}`;
  const then = verb === "purge" ? "They are deleted for good." : "They are delivered again with fresh attempts.";
  return `${verb === "redrive" ? "Redrive" : "Purge"} ${which} of group '${group}'? ${then}`;
}

function actions(act: (verb: Verb, all: boolean) => void): HTMLElement {
  return h(
    "div",
    { class: "options" },
    h("button", { onclick: () => act("redrive", false) }, "Redrive selected"),
    h("button", { onclick: () => act("redrive", true) }, "Redrive all"),
    h("button", { class: "danger", onclick: () => act("purge", false) }, "Purge selected"),
    h("button", { class: "danger", onclick: () => act("purge", true) }, "Purge all"),
  );
}

function attempts(d: DeadLetter): HTMLElement {
  return h(
    "details",
    {},
    h("summary", {}, `${d.attempts.length} attempts`),
    table(
      ["#", "time", "member", "error"],
      d.attempts.map((a) => [String(a.attempt), time(a.time), h("code", {}, a.memberId), a.error]),
      { class: "attempts" },
    ),
  );
}

/** Renders the dead letters of `group` into `into`; `changed` is called after a redrive or purge. */
export function deadLetters(into: HTMLElement, group: string, signal: AbortSignal, changed: () => void): void {
  const list = h("div", {}, note("loading…"));
  const outcome = h("div", { id: "dead-letter-outcome" });
  const selected = new Set<string>();
  let letters: DeadLetter[] = [];
  let next = "";

  const act = async (verb: Verb, all: boolean) => {
    if (!all && selected.size === 0) return fill(outcome, note("select dead letters first", "error"));
    if (!window.confirm(question(verb, all ? undefined : selected.size, group))) return;
    const select: Selector = all ? { select: { case: "all", value: true } } : { select: { case: "positions", value: { positions: [...selected] } } };
    try {
      const req = { group, select };
      const res = verb === "redrive" ? await groups.redriveDeadLetters(req, { signal }) : await groups.purgeDeadLetters(req, { signal });
      fill(outcome, note(`${verb === "redrive" ? "redriven" : "purged"}: ${res.count}`));
      changed();
      await load("");
    } catch (err) {
      if (!isAbort(err, signal)) fill(outcome, note(describeError(err), "error"));
    }
  };

  const render = () => {
    if (letters.length === 0) return fill(list, note("no dead letter"));
    const box = (d: DeadLetter) =>
      h("input", { type: "checkbox", "data-position": d.position, "aria-label": `select ${d.position}`, checked: selected.has(d.position), onchange: (e) => ((e.target as HTMLInputElement).checked ? selected.add(d.position) : selected.delete(d.position)) });
    fill(
      list,
      table(
        ["", "position", "type", "event", "dead since", "reason", "attempts"],
        letters.map((d) => [box(d), h("code", {}, d.position), h("code", {}, d.event?.type ?? "?"), d.event ? eventLink(d.event.id) : "", time(d.deadTime), d.reason, attempts(d)]),
        { class: "dead-letters", id: "dead-letter-table" },
      ),
      next !== "" && h("button", { onclick: () => void load(next) }, "more…"),
    );
  };

  const load = async (pageToken: string) => {
    try {
      const res = await groups.listDeadLetters({ group, pageSize: PAGE_SIZE, pageToken }, { signal });
      if (pageToken === "") (letters = []), selected.clear();
      letters.push(...res.deadLetters);
      next = res.nextPageToken;
      render();
    } catch (err) {
      if (!isAbort(err, signal)) fill(list, note(describeError(err), "error"));
    }
  };

  fill(into, h("h2", {}, "Dead letters"), actions((verb, all) => void act(verb, all)), outcome, list);
  void load("");
}
