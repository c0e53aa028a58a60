// Consumer groups: the list with lag, and one group's definition, stats, members and dead letters.
import { toJson } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ConsumerGroupSchema, type GetGroupResponse } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { describeError, groups, isAbort } from "../api.js";
import { duration, facts, fill, h, table } from "../dom.js";
import { note, time } from "../event-view.js";
import { groupsTable, loadGroups } from "../groups-view.js";
import type { Page } from "../router.js";
import { deadLetters } from "./dead-letters.js";

export const groupsPage: Page = (main, route) => {
  const name = route.path[1];
  return name === undefined ? groupList(main) : groupDetail(main, name);
};

function groupList(main: HTMLElement): () => void {
  const controller = new AbortController();
  const list = h("section", {}, note("loading…"));
  fill(main, h("h1", {}, "Consumer groups"), list);
  loadGroups(controller.signal).then(
    (rows) => fill(list, rows.length === 0 ? note("no consumer group") : groupsTable(rows)),
    (err: unknown) => isAbort(err, controller.signal) || fill(list, note(describeError(err), "error")),
  );
  return () => controller.abort();
}

function groupDetail(main: HTMLElement, name: string): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const about = h("section", { id: "group" }, note("loading…"));
  const letters = h("section", { id: "dead-letters" });
  const definition = h("section");
  fill(main, h("h1", {}, "Group ", h("code", {}, name)), about, letters, definition);
  const reload = () =>
    groups.getGroup({ name }, { signal }).then(
      (res) => {
        fill(about, ...groupSections(res));
        const json = res.group ? JSON.stringify(toJson(ConsumerGroupSchema, res.group, { useProtoFieldName: true }), null, 2) : "";
        fill(definition, h("h2", {}, "Definition"), h("pre", { class: "json", id: "group-definition" }, json));
      },
      (err: unknown) => isAbort(err, signal) || fill(about, note(describeError(err), "error")),
    );
  void reload();
  deadLetters(letters, name, signal, () => void reload());
  return () => controller.abort();
}

function groupSections(res: GetGroupResponse): HTMLElement[] {
  const s = res.stats;
  return [
    h("h2", {}, "Stats"),
    s
      ? facts([
          ["backlog", String(s.backlog)],
          ["oldest unacked", s.oldestUnackedAge ? duration(durationMs(s.oldestUnackedAge)) : "—"],
          ["in flight", String(s.inFlight)],
          ["retrying", String(s.retrying)],
          ["dead letters", String(s.deadLetters)],
          ["ack floor", h("code", {}, s.ackFloor || "—")],
        ])
      : note("no stats"),
    h("h2", {}, `Members (${s?.members.length ?? 0})`),
    s && s.members.length > 0
      ? table(
          ["member", "peer", "in flight", "max in flight", "acked", "nacked", "connected"],
          s.members.map((m) => [h("code", {}, m.memberId), m.peer, String(m.inFlight), String(m.maxInFlight), String(m.acked), String(m.nacked), time(m.connectTime)]),
        )
      : note("no member connected"),
  ];
}
