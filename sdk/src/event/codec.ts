import { fromBinary, fromJson, fromJsonString, toBinary, toJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../gen/qingyu/events/v1/event_pb.js";

/** The binary (protobuf wire) form of an envelope: what the broker stores and puts on NATS. */
export function eventToBinary(event: Event): Uint8Array {
  return toBinary(EventSchema, event);
}

/**
 * Decodes an envelope from its binary form.
 * @throws Error when the bytes are not a valid `qingyu.events.v1.Event`
 */
export function eventFromBinary(bytes: Uint8Array): Event {
  return fromBinary(EventSchema, bytes);
}

/** The canonical proto3 JSON form of an envelope (camelCase names, int64 as strings). */
export function eventToJson(event: Event): JsonValue {
  return toJson(EventSchema, event);
}

/** {@link eventToJson} as a string. */
export function eventToJsonString(event: Event, options: { prettySpaces?: number } = {}): string {
  return toJsonString(EventSchema, event, options);
}

/**
 * Parses the proto3 JSON form of an envelope. Unknown fields are an error, so a misspelt field
 * does not vanish silently.
 * @throws Error naming the offending field
 */
export function eventFromJson(json: JsonValue): Event {
  return fromJson(EventSchema, json);
}

/** {@link eventFromJson} from a string. */
export function eventFromJsonString(json: string): Event {
  return fromJsonString(EventSchema, json);
}
