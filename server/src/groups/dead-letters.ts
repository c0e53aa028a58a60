// A consumer group's dead letters: listed a page at a time, and redriven or purged a chunk at a
// time, so that a large dead letter queue is never held whole.
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { DeadLetterSchema, type DeadLetter, type DeadLetterSelector } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary } from "../../../sdk/src/event/codec.js";
import { invalidRequest } from "../errors.js";
import { compileFilter } from "../services/filter.js";
import { matcher } from "../services/matcher.js";
import type { EventStore } from "../store/event-store.js";
import { isPosition } from "../store/position.js";
import { deadPrefix, loadDeadLetters } from "./group-records.js";
import type { GroupRuntime } from "./group-runtime.js";

export const DEFAULT_DEAD_LETTER_PAGE = 100;
/** Dead letters a redrive or purge reads and acts on at once. */
const DEAD_LETTER_CHUNK = 1_000;

/** One page of a group's dead letters (written ones: the caller flushes the group first). */
export async function listDeadLetters(store: EventStore, name: string, pageSize: number, pageToken: string): Promise<{ letters: DeadLetter[]; next: string }> {
  if (pageSize < 0 || pageSize > 1000) throw invalidRequest("page_size", "range", `'page_size' must be 0-1000, got ${pageSize}`);
  if (pageToken !== "" && !isPosition(pageToken)) throw invalidRequest("page_token", "page_token", "'page_token' is not a token this broker issued");
  const size = pageSize || DEFAULT_DEAD_LETTER_PAGE;
  // One page (and one more record, to know whether another page follows) read from the store.
  const page = await loadDeadLetters(store, name, { after: pageToken === "" ? undefined : pageToken, limit: size + 1 });
  const letters = page.slice(0, size);
  return { letters, next: page.length > size ? (letters.at(-1)?.position ?? "") : "" };
}

/**
 * The dead letters a selector names, a chunk at a time, so a redrive or purge of a large dead
 * letter queue never holds all of it: positions are read one by one, "all" and filters page
 * through the queue in position order.
 */
async function* selected(store: EventStore, runtime: GroupRuntime, selector: DeadLetterSelector | undefined): AsyncGenerator<DeadLetter[]> {
  const name = runtime.name;
  const sel = selector?.select;
  if (sel?.case !== "all" && sel?.case !== "positions" && sel?.case !== "filter") throw invalidRequest("select", "required", "'select' must name all, positions or a filter");
  const keep = sel.case === "filter" ? matcher(compileFilter(sel.value, "select.filter")) : undefined;
  // Dead letters are written with the group's progress; write it now so the selection is current.
  await runtime.flush();
  if (sel.case === "positions") {
    const wanted = [...new Set(sel.value.positions)].filter(isPosition).sort();
    for (let i = 0; i < wanted.length; i += DEAD_LETTER_CHUNK) {
      const values = await Promise.all(wanted.slice(i, i + DEAD_LETTER_CHUNK).map((p) => store.kvGet(deadPrefix(name) + p)));
      const letters = values.flatMap((v) => (v ? [fromBinary(DeadLetterSchema, v)] : []));
      if (letters.length > 0) yield letters;
    }
    return;
  }
  for (let after: string | undefined; ; ) {
    const page = await loadDeadLetters(store, name, { after, limit: DEAD_LETTER_CHUNK });
    const chosen = keep ? page.filter((l) => l.event !== undefined && keep(l.event)) : page;
    if (chosen.length > 0) yield chosen;
    const last = page.at(-1);
    if (!last || page.length < DEAD_LETTER_CHUNK) return;
    after = last.position;
  }
}

/** Puts the selected dead letters back in the group's flow; returns how many. */
export async function redriveDeadLetters(store: EventStore, runtime: GroupRuntime, selector: DeadLetterSelector | undefined): Promise<number> {
  let count = 0;
  for await (const letters of selected(store, runtime, selector)) {
    await runtime.redrive(
      letters.flatMap((l) => (l.event ? [{ position: l.position, data: eventToBinary(l.event), recordedUs: l.event.recordedTime ? timestampDate(l.event.recordedTime).getTime() * 1000 : 0 }] : [])),
    );
    count += letters.length;
  }
  return count;
}

/** Removes the selected dead letters; returns how many. */
export async function purgeDeadLetters(store: EventStore, runtime: GroupRuntime, selector: DeadLetterSelector | undefined): Promise<number> {
  let count = 0;
  for await (const letters of selected(store, runtime, selector)) {
    await store.kvWrite(letters.map((l) => ({ key: deadPrefix(runtime.name) + l.position, value: null })));
    runtime.purged(letters.length);
    count += letters.length;
  }
  return count;
}
