import type { NewEvent } from "../event-store.js";
import { sameContent } from "../same-content.js";

/**
 * Where an event of a planned append gets its position and envelope from: a stored event, the i-th
 * new event (`fresh`, this event inserts it), or a copy of the i-th new event (`copyOf`, a duplicate).
 */
export type EventSource<S> = { readonly stored: S } | { readonly fresh: number } | { readonly copyOf: number };

/** One group's plan: every event's source, or the first conflict (nothing of the group is written). */
export type GroupPlan<S> =
  | { readonly ok: true; readonly sources: readonly EventSource<S>[] }
  | {
      readonly ok: false;
      readonly index: number;
      readonly id: string;
      /** What the id collided with; undefined when it is another event of the same group. */
      readonly against: EventSource<S> | undefined;
    };

export interface AppendPlan<S> {
  /** The events to insert, in position order: `{ fresh: i }` gets the i-th new position. */
  readonly fresh: readonly NewEvent[];
  readonly groups: readonly GroupPlan<S>[];
}

/**
 * Plans a whole append before anything is written, across all its groups, as the SQLite writer
 * does within its transaction: an id already stored, or claimed by an earlier group of this append,
 * or earlier in the same group, is a duplicate when the content is the same and a conflict for its
 * group otherwise. Every id is therefore inserted at most once per commit: a duplicate key inside a
 * MongoDB transaction aborts it without a transient label, so it must never be attempted.
 *
 * @param existing stored events by id (read inside the transaction)
 * @param storedCore the producer's bytes of a stored event
 */
export function planAppend<S>(groups: readonly (readonly NewEvent[])[], existing: ReadonlyMap<string, S>, storedCore: (s: S) => Uint8Array): AppendPlan<S> {
  const fresh: NewEvent[] = [];
  const claimed = new Map<string, number>();
  const plans = groups.map((group): GroupPlan<S> => {
    const own: NewEvent[] = [];
    const ownIndex = new Map<string, number>();
    const sources: EventSource<S>[] = [];
    for (let i = 0; i < group.length; i++) {
      const e = group[i] as NewEvent;
      const stored = existing.get(e.id);
      const inGroup = ownIndex.get(e.id);
      const earlier = claimed.get(e.id);
      if (stored === undefined && inGroup === undefined && earlier === undefined) {
        ownIndex.set(e.id, fresh.length + own.length);
        sources.push({ fresh: fresh.length + own.length });
        own.push(e);
        continue;
      }
      const source: EventSource<S> = stored !== undefined ? { stored } : { copyOf: (inGroup ?? earlier) as number };
      const core = stored !== undefined ? storedCore(stored) : ((inGroup !== undefined ? own[inGroup - fresh.length] : fresh[earlier as number]) as NewEvent).bytes;
      // why: an empty `against` tells the caller the clash is inside one request (INVALID_REQUEST).
      if (!sameContent(core, e.bytes)) return { ok: false, index: i, id: e.id, against: inGroup !== undefined ? undefined : source };
      sources.push(source);
    }
    for (const [id, n] of ownIndex) claimed.set(id, n);
    fresh.push(...own);
    return { ok: true, sources };
  });
  return { fresh, groups: plans };
}
