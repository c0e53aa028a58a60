// What a group remembers of failed attempts, and which deliveries have run out of time.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AttemptSchema } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { clipBytes } from "../clip.js";
import type { Entry, Member } from "./group-entry.js";

/** Bytes of a member's error text kept in an attempt. */
export const MAX_ATTEMPT_ERROR_BYTES = 1_024;
/** Attempts an entry's history keeps: the first few, then the latest. */
export const MAX_ATTEMPTS_KEPT = 20;
const FIRST_ATTEMPTS_KEPT = 5;

/**
 * One failed attempt in the entry's history. A member's error text is cut to MAX_ATTEMPT_ERROR_BYTES
 * and the history keeps the first FIRST_ATTEMPTS_KEPT and the latest attempts, at most
 * MAX_ATTEMPTS_KEPT in all (attempt numbers show the gap): with no attempt limit, or a member that
 * sends megabytes of error, a dead letter would otherwise outgrow a message.
 */
export function recordAttempt(entry: Entry, error: string, nowMs: number): void {
  const memberId = entry.delivery?.member.id ?? "";
  entry.history.push(create(AttemptSchema, { attempt: entry.attempts, time: timestampFromMs(nowMs), error: clipBytes(error, MAX_ATTEMPT_ERROR_BYTES), memberId }));
  if (entry.history.length > MAX_ATTEMPTS_KEPT) entry.history.splice(FIRST_ATTEMPTS_KEPT, 1);
}

/**
 * Deliveries whose ack deadline has passed, with why. A member that had deliveries still unwritten
 * when one expired is not reading its stream: it is marked stalled (see Member.stalled).
 */
export function* expiredDeliveries(members: readonly Member[], orphans: Iterable<Entry>, nowMs: number): Generator<[Entry, string]> {
  for (const m of members) {
    for (const e of m.inFlight) {
      if (!e.delivery || e.delivery.deadlineMs > nowMs) continue;
      if (m.queued > 0) m.stalled = true;
      yield [e, "ack deadline exceeded"];
    }
  }
  for (const e of orphans) if (e.delivery && e.delivery.deadlineMs <= nowMs) yield [e, "ack deadline exceeded (member disconnected)"];
}
