import { create, toBinary } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import {
  ConsumeResponseSchema,
  DeadLetterSchema,
  type ConsumeRequest,
  type ConsumeRequest_Join,
  type ConsumerGroup,
  type CreateGroupRequest,
  type DeleteGroupRequest,
  type GetGroupRequest,
  type ListDeadLettersRequest,
  type PurgeDeadLettersRequest,
  type RedriveDeadLettersRequest,
  type UpdateGroupRequest,
} from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, invalidRequest } from "../errors.js";
import type { HandlerContext } from "./handler-context.js";
import type { GroupManager } from "../groups/group-manager.js";
import { Member, type GroupRuntime } from "../groups/group-runtime.js";
import { MemberOutbox } from "../groups/member-outbox.js";
import { PageBudget } from "./page-budget.js";
import { compileFilter } from "./filter.js";

export const DEFAULT_MAX_IN_FLIGHT = 16;
export const MAX_MAX_IN_FLIGHT = 10_000;
/** A member id is stored in every attempt and shown by GetGroup. */
export const MAX_MEMBER_ID_CHARS = 256;

type Frame = Uint8Array | ReturnType<typeof staleFrame>;
const staleFrame = (deliveryId: string) => create(ConsumeResponseSchema, { kind: { case: "stale", value: { deliveryId } } });

/** Applies one answer of a member; returns a Stale frame when the delivery is no longer its own. */
function answer(runtime: GroupRuntime, member: Member, req: ConsumeRequest): Frame[] {
  const k = req.kind;
  switch (k.case) {
    case "ack":
      return runtime.ack(member, k.value.deliveryIds).map(staleFrame);
    case "nack":
      return runtime.nack(member, k.value.deliveryId, k.value.delay ? durationMs(k.value.delay) : undefined, k.value.error) ? [] : [staleFrame(k.value.deliveryId)];
    case "extend":
      return runtime.extend(member, k.value.deliveryId, k.value.by ? durationMs(k.value.by) : undefined) ? [] : [staleFrame(k.value.deliveryId)];
    case "reject":
      return runtime.reject(member, k.value.deliveryId, k.value.error) ? [] : [staleFrame(k.value.deliveryId)];
    case "join":
      throw invalidRequest("join", "once", "'join' may only be the first message");
    default:
      throw invalidRequest("kind", "required", "each message must be a join, ack, nack, extend or reject");
  }
}

async function joinOf(reqs: AsyncIterator<ConsumeRequest>): Promise<ConsumeRequest_Join> {
  const first = await reqs.next();
  if (first.done || first.value.kind.case !== "join") throw invalidRequest("join", "required", "the first message must be a join");
  const join = first.value.kind.value;
  if (join.maxInFlight < 0 || join.maxInFlight > MAX_MAX_IN_FLIGHT) {
    throw invalidRequest("join.max_in_flight", "range", `'join.max_in_flight' must be 0-${MAX_MAX_IN_FLIGHT}`);
  }
  if (join.memberId.length > MAX_MEMBER_ID_CHARS) {
    throw invalidRequest("join.member_id", "max_len", `'join.member_id' must be at most ${MAX_MEMBER_ID_CHARS} characters`);
  }
  return join;
}

/** Creating or changing a group needs admin on its name and read rights over what it will deliver. */
function mayDefine(group: ConsumerGroup | undefined, ctx: HandlerContext): void {
  ctx.access.admin(group?.name ?? "");
  ctx.access.read(compileFilter(group?.filter, "group.filter").types);
}

/** The ConsumerGroupService handlers. */
export function groupHandlers(groups: GroupManager, limits: { maxMessageBytes: number }) {
  return {
    createGroup: async (req: CreateGroupRequest, ctx: HandlerContext) => {
      mayDefine(req.group, ctx);
      return { group: await groups.create(req.group, ctx.caller) };
    },
    updateGroup: async (req: UpdateGroupRequest, ctx: HandlerContext) => {
      mayDefine(req.group, ctx);
      return { group: await groups.update(req.group, ctx.caller) };
    },
    deleteGroup: async (req: DeleteGroupRequest, ctx: HandlerContext) => {
      ctx.access.admin(req.name);
      await groups.delete(req.name, ctx.caller);
      return {};
    },
    getGroup: async (req: GetGroupRequest, ctx: HandlerContext) => {
      ctx.access.see(req.name);
      return { group: await groups.config(req.name), stats: await groups.stats(req.name) };
    },
    listGroups: async (_req: unknown, ctx: HandlerContext) => ({ groups: groups.list().filter((g) => ctx.access.maySee(g.name)) }),
    listDeadLetters: async (req: ListDeadLettersRequest, ctx: HandlerContext) => {
      ctx.access.admin(req.group);
      const { letters, next } = await groups.listDeadLetters(req.group, req.pageSize, req.pageToken);
      // The page stops before the first letter that would not fit in the response.
      const budget = new PageBudget(limits.maxMessageBytes);
      const fit = letters.findIndex((l) => !budget.take(toBinary(DeadLetterSchema, l).length, `dead letter at position '${l.position}'`));
      if (fit === -1) return { deadLetters: letters, nextPageToken: next };
      return { deadLetters: letters.slice(0, fit), nextPageToken: letters[fit - 1]?.position ?? "" };
    },
    redriveDeadLetters: async (req: RedriveDeadLettersRequest, ctx: HandlerContext) => {
      ctx.access.admin(req.group);
      return { count: await groups.redrive(req.group, req.select, ctx.caller) };
    },
    purgeDeadLetters: async (req: PurgeDeadLettersRequest, ctx: HandlerContext) => {
      ctx.access.admin(req.group);
      return { count: await groups.purge(req.group, req.select, ctx.caller) };
    },

    /**
     * A member's session: join, then deliveries out and answers in, until the member closes its
     * side, the group is deleted or the broker stops. Deliveries still unanswered when the member
     * leaves are redelivered after their deadline.
     */
    async *consume(reqs: AsyncIterable<ConsumeRequest>, ctx: HandlerContext): AsyncIterable<Frame> {
      const input = reqs[Symbol.asyncIterator]();
      const join = await joinOf(input);
      ctx.access.consume(join.group);
      let member: Member | undefined;
      let joined: GroupRuntime | undefined;
      // A member that sends answers and never reads their replies is ended, as a slow subscriber is.
      const outbox = new MemberOutbox<Frame>(
        () => member,
        groups.memberOutbox,
        (waiting) =>
          ctx.end(new DomainError(ErrorReason.SLOW_CONSUMER, `member '${member?.id ?? ""}' of consumer group '${join.group}' does not read its stream: ${waiting} messages waiting (BROKER_SUBSCRIBER_BUFFER)`)),
        () => joined?.schedulePump(),
      );
      member = new Member(join.memberId || randomUUID(), join.maxInFlight || DEFAULT_MAX_IN_FLIGHT, ctx.peer, (f, current) => outbox.delivery(f, current));
      const { runtime, leave } = await groups.join(join.group, member);
      joined = runtime;
      let inputDone = false;
      let inputError: unknown;
      const stopWatching = groups.whenDeleted(runtime.name, () => ctx.end(new DomainError(ErrorReason.GROUP_NOT_FOUND, `consumer group '${runtime.name}' was deleted`)));
      const onAbort = () => outbox.notify();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      ctx.log.info({ group: runtime.name, member: member.id, maxInFlight: member.maxInFlight }, "member joined");
      const reader = (async () => {
        try {
          for (let r = await input.next(); !r.done && !ctx.signal.aborted; r = await input.next()) {
            for (const f of answer(runtime, member, r.value)) outbox.push(f);
          }
        } catch (err) {
          inputError = err;
        } finally {
          inputDone = true;
          outbox.notify();
        }
      })();
      try {
        yield create(ConsumeResponseSchema, { kind: { case: "joined", value: { memberId: member.id } } });
        while (!ctx.signal.aborted) {
          const next = outbox.take();
          if (next) yield next;
          else if (inputDone) break;
          else await outbox.waitForMore();
        }
      } finally {
        leave();
        stopWatching();
        ctx.signal.removeEventListener("abort", onAbort);
        ctx.log.info({ group: runtime.name, member: member.id, acked: member.acked, nacked: member.nacked }, "member left");
      }
      if (!ctx.signal.aborted) {
        await reader;
        if (inputError !== undefined) throw inputError;
      }
    },
  };
}
