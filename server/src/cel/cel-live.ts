// `where` on live events: every subscriber of a broker sees the same stored bytes for an event (the
// hub decodes nothing), so each expression's verdict is kept per event bytes: an expression shared
// by many subscribers runs once per event. Expressions in the fast path's subset read the bytes;
// for the others the event is decoded once, for all of them.
import { fromBinary, isMessage } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventSchema, type Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { compileWhere, type WhereProgram, type WhereSpec } from "./cel-where.js";

// Kept on the bytes themselves, not in WeakMaps keyed by them: V8's scavenges keep WeakMap entries
// alive until a full GC, which promoted every event's (BENCHMARKS.md, issue 18).
const DECODED = Symbol("qingyu.decoded");
const VERDICTS = Symbol("qingyu.verdicts");

type Annotated = Uint8Array & { [DECODED]?: Event; [VERDICTS]?: Map<WhereProgram, boolean> };

function decode(data: Annotated): Event {
  return (data[DECODED] ??= fromBinary(EventSchema, data));
}

/**
 * A live test of a `where`: on a decoded event passed as the meta, or on the event's bytes (the
 * verdict then shared with every other test of the same expression on the same bytes).
 */
export function liveWhere(spec: WhereSpec): (m: object, data?: Uint8Array) => boolean {
  const program = compileWhere(spec);
  return (m, data?: Annotated) => {
    if (isMessage(m, EventSchema)) return program.matches(m);
    if (!data) return false;
    let seen = data[VERDICTS];
    const known = seen?.get(program);
    if (known !== undefined) return known;
    // An expression in the fast path's subset reads its fields from the bytes (cel-fast.ts); the
    // others share one decoded event.
    const now = timestampFromMs(Date.now());
    const verdict = program.fast ? program.matchesBytes(data, now) : program.matches(decode(data), now);
    if (!seen) data[VERDICTS] = seen = new Map();
    seen.set(program, verdict);
    return verdict;
  };
}
