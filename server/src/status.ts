// A call's outcome, whatever transport carries it: the canonical status codes (numbered as gRPC
// numbers them; Connect uses the same numbers), the code of each error reason, and the rich status
// (ErrorInfo and typed details) a DomainError becomes. grpc/to-status.ts puts it into gRPC
// trailers, http/connect-routes.ts into Connect errors.
import { create } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { ErrorInfoSchema, ErrorReason, ErrorReasonSchema, StatusSchema, type Status } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, pack } from "./errors.js";
import { boundedStatus } from "./status-bounds.js";

export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** The name of each code, as metrics label it (`INVALID_ARGUMENT`). */
export const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Code).map(([name, code]) => [code, name]));

/** The code of each reason; `satisfies` keeps the table exhaustive. */
export const REASON_TO_CODE = {
  [ErrorReason.UNSPECIFIED]: Code.UNKNOWN,
  [ErrorReason.INVALID_EVENT]: Code.INVALID_ARGUMENT,
  [ErrorReason.INVALID_REQUEST]: Code.INVALID_ARGUMENT,
  [ErrorReason.MALFORMED_REQUEST]: Code.INVALID_ARGUMENT,
  [ErrorReason.TOO_LARGE]: Code.RESOURCE_EXHAUSTED,
  [ErrorReason.EVENT_NOT_FOUND]: Code.NOT_FOUND,
  [ErrorReason.ID_CONFLICT]: Code.ALREADY_EXISTS,
  [ErrorReason.STORE_UNAVAILABLE]: Code.UNAVAILABLE,
  [ErrorReason.OVERLOADED]: Code.RESOURCE_EXHAUSTED,
  [ErrorReason.SHUTTING_DOWN]: Code.UNAVAILABLE,
  [ErrorReason.SLOW_CONSUMER]: Code.RESOURCE_EXHAUSTED,
  [ErrorReason.INTERNAL]: Code.INTERNAL,
  [ErrorReason.SERVICE_NOT_FOUND]: Code.NOT_FOUND,
  [ErrorReason.GROUP_NOT_FOUND]: Code.NOT_FOUND,
  [ErrorReason.GROUP_EXISTS]: Code.ALREADY_EXISTS,
  [ErrorReason.UNAUTHENTICATED]: Code.UNAUTHENTICATED,
  [ErrorReason.PERMISSION_DENIED]: Code.PERMISSION_DENIED,
} as const satisfies Record<ErrorReason, Code>;

/** Turns anything thrown by a handler into a DomainError; unknown errors are logged, never echoed. */
export function toDomainError(err: unknown, log: Logger): DomainError {
  if (err instanceof DomainError) return err;
  log.error({ err }, "unexpected error");
  return new DomainError(ErrorReason.INTERNAL, "internal error");
}

/**
 * The rich status message for a domain error (also used in PublishStream acknowledgements), cut to
 * fit under a peer's header limit (see status-bounds.ts).
 */
export function toStatusMessage(err: DomainError): Status {
  const reason = ErrorReasonSchema.value[err.reason]?.name ?? "ERROR_REASON_UNSPECIFIED";
  const info = pack(ErrorInfoSchema, { reason, domain: "broker", metadata: err.metadata });
  return boundedStatus(create(StatusSchema, { code: REASON_TO_CODE[err.reason], message: err.message, details: [info, ...err.details] }));
}
