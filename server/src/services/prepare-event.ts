import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { EventSchema, type Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { catalogEntryByCase } from "../../../sdk/src/catalog/catalog.js";
import { rawBytesOf } from "../../../sdk/src/grpc/service-definition.js";
import { validateEvent } from "../../../sdk/src/validate/validate-event.js";
import { invalidEvent, tooLarge } from "../errors.js";
import type { NewEvent } from "../store/event-store.js";

const FIELD_DATA_VERSION = 12;

/** Limits applied on publish. */
export interface PrepareOptions {
  maxEventBytes: number;
}

/** Where an event sits in its request, for error paths ("events[3].") and batch indexes. */
export interface EventLocation {
  prefix: string;
  index: number;
}

/**
 * Validates an event as published and turns it into what the store appends: the catalog's rules,
 * the size limit and data_version filled in. The event is stored as the producer encoded it when
 * the request's bytes were kept (re-encoding costs more than the rest of the publish path).
 *
 * @throws DomainError INVALID_EVENT listing every violation, or TOO_LARGE
 */
export function prepareEvent(event: Event, options: PrepareOptions, where: EventLocation = { prefix: "event.", index: 0 }): NewEvent {
  const metadata = { index: String(where.index) };
  const violations = validateEvent(event);
  if (violations.length > 0) throw invalidEvent(violations, where.prefix, metadata);
  let bytes = rawBytesOf(event) ?? toBinary(EventSchema, event);
  if (event.dataVersion === 0) {
    event.dataVersion = catalogEntryByCase(event.payload.case)?.dataVersion ?? 1;
    // An absent scalar followed by the field on the wire decodes as the field: append, do not re-encode.
    const suffix = new BinaryWriter().tag(FIELD_DATA_VERSION, WireType.Varint).uint32(event.dataVersion).finish();
    const joined = new Uint8Array(bytes.length + suffix.length);
    joined.set(bytes, 0);
    joined.set(suffix, bytes.length);
    bytes = joined;
  }
  if (bytes.length > options.maxEventBytes) throw tooLarge("event bytes", options.maxEventBytes, bytes.length, metadata);
  return {
    id: event.id,
    type: event.type,
    source: event.source,
    subject: event.subject,
    correlationId: event.correlationId,
    traceparent: event.traceparent,
    bytes,
    fillTime: event.time === undefined,
  };
}
