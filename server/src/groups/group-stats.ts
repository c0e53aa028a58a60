// What a consumer group reports (GetGroup, metrics) and the bounds a GroupManager is given.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { GroupStatsSchema, type GroupStats } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { GroupRuntime } from "./group-runtime.js";

/** Options of a GroupManager; the defaults are the broker's. */
export interface GroupManagerOptions {
  /** Most events a group's window holds. */
  windowEvents?: number | undefined;
  /** Most bytes of events a group's window holds. */
  windowBytes?: number | undefined;
  /** Most groups this broker holds (CreateGroup beyond it: RESOURCE_EXHAUSTED). */
  maxGroups?: number | undefined;
  /** How long a group without members keeps its runtime before it is put to rest. */
  idleMs?: number | undefined;
  /** Frames a member's stream may have waiting beyond its deliveries before it is ended as too slow. */
  memberOutbox?: number | undefined;
}

export const DEFAULT_MAX_GROUPS = 1_000;
export const DEFAULT_GROUP_IDLE_MS = 10_000;
export const DEFAULT_MEMBER_OUTBOX = 10_000;

/** What GetGroup reports of a group: its runtime's window and members, and its feed's lag. */
export async function groupStats(runtime: GroupRuntime): Promise<GroupStats> {
  const s = await runtime.stats();
  return create(GroupStatsSchema, {
    backlog: BigInt(s.backlog),
    ...(s.oldestUs === undefined || s.backlog === 0 ? {} : { oldestUnackedAge: durationFromMs(Math.max(0, Math.round(Date.now() - s.oldestUs / 1000))) }),
    inFlight: BigInt(s.inFlight),
    retrying: BigInt(s.retrying),
    deadLetters: BigInt(runtime.deadLetters),
    ackFloor: s.floor,
    members: runtime.memberList.map((m) => ({
      memberId: m.id,
      inFlight: m.inFlight.size,
      maxInFlight: m.maxInFlight,
      acked: BigInt(m.acked),
      nacked: BigInt(m.nacked),
      connectTime: timestampFromMs(m.connectTime),
      peer: m.peer,
    })),
  });
}
