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

/** Options of a {@link DomainError}. */
export interface DomainErrorOptions {
  /** Typed details (packed as Any), after the ErrorInfo. */
  details?: Any[];
  /** Extra facts for ErrorInfo.metadata, e.g. the index of a failing event. */
  metadata?: Record<string, string>;
  cause?: unknown;
}

/**
 * An expected failure, named by its reason. Domain code throws these; only
 * server/src/grpc/to-status.ts turns them into gRPC statuses.
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
  const fieldViolations = violations.map((v) =>
    create(BadRequest_FieldViolationSchema, { field: prefix + v.path, rule: v.rule, description: prefixed(v, prefix) }),
  );
  return pack(BadRequestSchema, { fieldViolations });
}

export function invalidEvent(violations: readonly Violation[], prefix: string, metadata: Record<string, string> = {}): DomainError {
  const list = violations.map((v) => prefixed(v, prefix)).join("; ");
  return new DomainError(ErrorReason.INVALID_EVENT, `invalid event: ${list}`, {
    details: [badRequest(violations, prefix)],
    metadata,
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
