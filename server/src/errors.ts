import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import {
  BadRequestSchema,
  BadRequest_FieldViolationSchema,
  ErrorReason,
  IdConflictSchema,
  LimitExceededSchema,
  ResumeInfoSchema,
} from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import type { Violation } from "../../sdk/src/validate/check-message.js";
import { clip, MAX_ECHOED_CHARS } from "./clip.js";

/**
 * Violations an INVALID_EVENT error lists, in its message and its BadRequest; the rest are counted
 * in ErrorInfo.metadata `omitted_violations` (an event with 10,000 bad metadata keys says so in
 * one short status, not 10,000 lines).
 */
export const MAX_LISTED_VIOLATIONS = 10;
/** Characters of one violation's field path or description (a path can hold a client's map key). */
export const MAX_VIOLATION_CHARS = MAX_ECHOED_CHARS;

/** Options of a {@link DomainError}. */
export interface DomainErrorOptions {
  /** Typed details (packed as Any), after the ErrorInfo. */
  details?: Any[];
  /** Extra facts for ErrorInfo.metadata, e.g. the index of a failing event. */
  metadata?: Record<string, string>;
  cause?: unknown;
}

/**
 * An expected failure, named by its reason. Domain code throws these; server/src/status.ts turns
 * them into a status, which each transport sends its own way.
 */
export class DomainError extends Error {
  override name = "DomainError";
  readonly details: Any[];
  readonly metadata: Record<string, string>;
  constructor(
    readonly reason: ErrorReason,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? [];
    this.metadata = options.metadata ?? {};
  }
}

export function pack<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any {
  return anyPack(schema, create(schema, init));
}

/** A violation's message with its path prefixed, e.g. 'event.like_added.user_id' is required. */
function prefixed(v: Violation, prefix: string): string {
  return prefix === "" ? v.message : v.message.replace(`'${v.path}'`, `'${prefix}${v.path}'`);
}

/** Prefixes each violation path, e.g. with "event." or "events[3].". */
function badRequest(violations: readonly Violation[], prefix: string): Any {
  const fieldViolations = violations.slice(0, MAX_LISTED_VIOLATIONS).map((v) =>
    create(BadRequest_FieldViolationSchema, {
      field: clip(prefix + v.path, MAX_VIOLATION_CHARS),
      rule: clip(v.rule),
      description: clip(prefixed(v, prefix), MAX_VIOLATION_CHARS),
    }),
  );
  return pack(BadRequestSchema, { fieldViolations });
}

export function invalidEvent(violations: readonly Violation[], prefix: string, metadata: Record<string, string> = {}): DomainError {
  const omitted = Math.max(0, violations.length - MAX_LISTED_VIOLATIONS);
  const listed = violations.slice(0, MAX_LISTED_VIOLATIONS).map((v) => clip(prefixed(v, prefix), MAX_VIOLATION_CHARS));
  // The count goes first, so that it survives when the status message is cut to its byte limit.
  const list = omitted === 0 ? listed.join("; ") : `${violations.length} violations, the first ${listed.length}: ${listed.join("; ")}`;
  return new DomainError(ErrorReason.INVALID_EVENT, `invalid event: ${list}`, {
    details: [badRequest(violations, prefix)],
    metadata: omitted === 0 ? metadata : { ...metadata, omitted_violations: String(omitted) },
  });
}

export function invalidRequest(field: string, rule: string, description: string, metadata: Record<string, string> = {}): DomainError {
  return new DomainError(ErrorReason.INVALID_REQUEST, description, {
    details: [badRequest([{ path: field, rule, message: description }], "")],
    metadata,
  });
}

export function tooLarge(subject: string, limit: number, actual: number, metadata: Record<string, string> = {}): DomainError {
  return new DomainError(ErrorReason.TOO_LARGE, `${subject} ${actual} exceeds the limit of ${limit}`, {
    details: [pack(LimitExceededSchema, { subject, limit: BigInt(limit), actual: BigInt(actual) })],
    metadata,
  });
}

export function idConflict(id: string, existingPosition: string, index: number): DomainError {
  return new DomainError(ErrorReason.ID_CONFLICT, `event '${id}' was already published with a different content`, {
    details: [pack(IdConflictSchema, { id, existingPosition, index })],
    metadata: { index: String(index) },
  });
}

export function storeUnavailable(cause: unknown, what = "the event store is unavailable"): DomainError {
  return new DomainError(ErrorReason.STORE_UNAVAILABLE, what, { cause });
}

export function slowConsumer(lastPosition: string): DomainError {
  return new DomainError(ErrorReason.SLOW_CONSUMER, `subscriber too slow: resume after position '${lastPosition}'`, {
    details: [pack(ResumeInfoSchema, { lastPosition })],
  });
}

export function shuttingDown(): DomainError {
  return new DomainError(ErrorReason.SHUTTING_DOWN, "the broker is shutting down");
}
