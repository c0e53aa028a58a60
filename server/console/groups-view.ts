// The consumer groups table the Overview and Groups pages share: each group with its lag.
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { GroupStats } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { groups } from "./api.js";
import { duration, link, table } from "./dom.js";
import { routeHash } from "./router.js";

export interface GroupRow {
  name: string;
  stats: GroupStats | undefined;
}

/** Every group the caller may see, with its stats (read one call per group). */
export async function loadGroups(signal: AbortSignal): Promise<GroupRow[]> {
  const list = await groups.listGroups({}, { signal });
  return Promise.all(
    list.groups.map(async (g) => {
      // why: a group deleted between the list and its read is shown without stats, not as a page error.
      const res = await groups.getGroup({ name: g.name }, { signal }).catch(() => undefined);
      return { name: g.name, stats: res?.stats };
    }),
  );
}

export function groupsTable(rows: readonly GroupRow[]): HTMLTableElement {
  return table(
    ["group", "backlog", "oldest unacked", "in flight", "retrying", "dead letters", "members"],
    rows.map(({ name, stats: s }) => [
      link(routeHash(["groups", name]), name),
      s ? String(s.backlog) : "?",
      s?.oldestUnackedAge ? duration(durationMs(s.oldestUnackedAge)) : "—",
      s ? String(s.inFlight) : "?",
      s ? String(s.retrying) : "?",
      s ? String(s.deadLetters) : "?",
      s ? String(s.members.length) : "?",
    ]),
    { class: "groups", id: "groups-table" },
  );
}
