// The SDK's public entry. Everything a service needs is exported here by name; internal modules are
// not part of the API.

// The generated event catalog: every payload message, enum and schema (an explicit list that
// protoc-gen-catalog writes from the .proto files).
export * from "./gen/qingyu/events/v1/exports.js";
export type { EventCatalogMap } from "./gen/qingyu/events/v1/event_catalog.js";

export {
  catalogEntry,
  catalogEntryByCase,
  eventCatalog,
  eventDomains,
  isEventType,
  payloadSchema,
} from "./catalog/catalog.js";
export type { CaseOf, EventDomain, EventType, EventTypeInfo, EventTypeOf, PayloadOf, TypedEvent } from "./catalog/catalog.js";
export { DEFAULT_SUBJECT_PREFIX, eventDomainOf, eventSubject, eventTypeOf } from "./catalog/subject.js";
export type { SubjectOptions } from "./catalog/subject.js";
export { newEvent, newEventId } from "./event/new-event.js";
export type { EventAttributes, PayloadInit } from "./event/new-event.js";
export { eventFromBinary, eventFromJson, eventFromJsonString, eventToBinary, eventToJson, eventToJsonString } from "./event/codec.js";
export { assertValidEvent, EventValidationError, validateEvent } from "./validate/validate-event.js";
export type { ValidateEventOptions } from "./validate/validate-event.js";
export type { Violation } from "./validate/check-message.js";
export { isKnownCurrency } from "./validate/formats.js";
