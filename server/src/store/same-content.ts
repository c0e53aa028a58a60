import { equals, fromBinary } from "@bufbuild/protobuf";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";

/**
 * True when two producer encodings carry the same event. Retries of one event are normally
 * byte-identical; when they are not (another client library, map entries in another order), the
 * events are compared field by field, so only a real difference is an id conflict.
 */
export function sameContent(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length === b.length && Buffer.compare(a, b) === 0) return true;
  try {
    return equals(EventSchema, fromBinary(EventSchema, a), fromBinary(EventSchema, b));
  } catch {
    return false;
  }
}
