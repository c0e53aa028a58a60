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
export { defineUpcaster, isUnknownEvent, rawPayload, UpcasterError } from "./event/evolution.js";
export type { RawPayload, UnknownEvent, Upcaster, UpcastFn } from "./event/evolution.js";

// The client.
export { BrokerClient, createBrokerClient } from "./client/client.js";
export type { BrokerClientOptions, QueryOptions, QueryPage, ReplayOptions } from "./client/client.js";
export type { EventQuery, SubscriptionFilter } from "./client/filters.js";
export type { SdkLogger } from "./client/logger.js";
export type { SubscribeFrom, SubscribeOptions } from "./client/subscription.js";
export { StreamPublisher, DEFAULT_PUBLISH_WINDOW } from "./client/publisher.js";
export type { PublisherOptions } from "./client/publisher.js";
export type { PublishResult, TimeInput } from "./client/results.js";
export type { CallOptions } from "./client/rpc.js";
export type { TlsOptions, TokenSource } from "./client/channel-credentials.js";
export { BrokerError, Code, isBrokerError } from "./errors.js";
export type { BrokerErrorOptions, StatusCode } from "./errors.js";
export {
  BadRequestSchema,
  ErrorReason,
  IdConflictSchema,
  LimitExceededSchema,
  MissingRightSchema,
  ResumeInfoSchema,
} from "./gen/qingyu/broker/v1/errors_pb.js";
export type { BadRequest, BadRequest_FieldViolation, IdConflict, LimitExceeded, MissingRight, ResumeInfo } from "./gen/qingyu/broker/v1/errors_pb.js";
export type { EventTypeInfo as BrokerEventTypeInfo } from "./gen/qingyu/broker/v1/broker_pb.js";
export type { GetBrokerStatsResponse as BrokerStats } from "./gen/qingyu/broker/v1/broker_pb.js";
export { parseDurationMs } from "./duration.js";

// Consumer groups.
export { Consumer, RejectError, RetryLaterError } from "./client/consumer.js";
export type { ConsumeOptions, DeliveryContext, EventHandler, HandlerMap } from "./client/consumer.js";
export { GroupsClient } from "./client/groups.js";
export type { DeadLetterSelection, GroupDefinition, RetryOptions } from "./client/groups.js";
export { OrderingMode } from "./gen/qingyu/broker/v1/groups_pb.js";
export type { Attempt, ConsumerGroup, DeadLetter, GroupStats, MemberStats } from "./gen/qingyu/broker/v1/groups_pb.js";
