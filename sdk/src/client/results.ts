import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** The acknowledgement of one published event. */
export interface PublishResult {
  /** The event id. */
  readonly id: string;
  /** The event's position: an opaque, ordered resume token. */
  readonly position: string;
  /** The id had been published before with the same content; nothing new was stored. */
  readonly duplicate: boolean;
  /** When the broker made the event durable (the first time, for a duplicate). */
  readonly recordedTime: Date | undefined;
}

/**
 * A Date no later than the timestamp. protobuf-es's timestampDate rounds to the nearest
 * millisecond, which can land after the event: subscribing `from` that Date would then skip it.
 */
export function dateAtOrBefore(ts: Timestamp): Date {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000));
}

export function toPublishResult(r: { id: string; position: string; duplicate: boolean; recordedTime?: Timestamp | undefined }): PublishResult {
  return { id: r.id, position: r.position, duplicate: r.duplicate, recordedTime: r.recordedTime ? dateAtOrBefore(r.recordedTime) : undefined };
}

/** A time bound: a Date, a protobuf Timestamp, or milliseconds since the epoch. */
export type TimeInput = Date | Timestamp | number;

export function toTimestamp(t: TimeInput | undefined): Timestamp | undefined {
  if (t === undefined) return undefined;
  if (t instanceof Date) return timestampFromDate(t);
  if (typeof t === "number") return timestampFromDate(new Date(t));
  return t;
}
