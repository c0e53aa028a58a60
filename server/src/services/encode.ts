// Responses that carry stored events are assembled from the stored bytes: an event is encoded once,
// at publish, and never decoded or re-encoded on the way out.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";

/** A message whose field 1 is `data` (GetEventResponse, ReplayResponse, SubscribeResponse.event). */
export function messageWithField(field: number, data: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(data).finish();
}

/** QueryEventsResponse{events, next_page_token} from stored bytes. */
export function queryEventsResponse(events: readonly Uint8Array[], nextPageToken: string): Uint8Array {
  const w = new BinaryWriter();
  for (const e of events) w.tag(1, WireType.LengthDelimited).bytes(e);
  if (nextPageToken !== "") w.tag(2, WireType.LengthDelimited).string(nextPageToken);
  return w.finish();
}

export function timestampFromUs(us: number): Timestamp {
  const seconds = Math.floor(us / 1e6);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: Math.round(us - seconds * 1e6) * 1000 });
}
