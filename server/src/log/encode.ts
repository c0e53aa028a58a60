// Responses that carry stored events are assembled from the stored bytes: an event is encoded once,
// at publish, and never decoded or re-encoded on the way out.
import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { singleField, Wire } from "../store/wire.js";

/** A message whose only field `field` is `data` (GetEventResponse, ReplayResponse, SubscribeResponse.event). */
export function messageWithField(field: number, data: Uint8Array): Uint8Array {
  return singleField(field, data);
}

/** QueryEventsResponse{events, next_page_token} from stored bytes. */
export function queryEventsResponse(events: readonly Uint8Array[], nextPageToken: string): Uint8Array {
  let size = 16 + nextPageToken.length;
  for (const e of events) size += e.length + 6;
  const w = new Wire(size);
  for (const e of events) w.bytes(1, e);
  if (nextPageToken !== "") w.string(2, nextPageToken);
  return w.finish();
}

/**
 * PublishResponse, PublishStreamResponse and PublishResult share fields 1-4: id, position,
 * duplicate, recorded_time.
 */
export function publishAck(id: string, position: string, duplicate: boolean, recordedUs: number): Uint8Array {
  const w = new Wire(96).string(1, id).string(2, position);
  if (duplicate) w.varint(3, 1);
  return w.timestampUs(4, recordedUs).finish();
}

export function timestampFromUs(us: number): Timestamp {
  const seconds = Math.floor(us / 1e6);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: Math.round(us - seconds * 1e6) * 1000 });
}
