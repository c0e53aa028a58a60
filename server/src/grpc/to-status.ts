import { create, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus, Metadata, type StatusObject } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ErrorInfoSchema, ErrorReason, ErrorReasonSchema, StatusSchema, type Status } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, pack } from "../errors.js";
import { boundedStatus } from "./status-bounds.js";

/** The gRPC code of each reason; `satisfies` keeps the table exhaustive. */
export const REASON_TO_CODE = {
  [ErrorReason.UNSPECIFIED]: GrpcStatus.UNKNOWN,
  [ErrorReason.INVALID_EVENT]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorReason.INVALID_REQUEST]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorReason.MALFORMED_REQUEST]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorReason.TOO_LARGE]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorReason.EVENT_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorReason.ID_CONFLICT]: GrpcStatus.ALREADY_EXISTS,
  [ErrorReason.STORE_UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorReason.OVERLOADED]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorReason.SHUTTING_DOWN]: GrpcStatus.UNAVAILABLE,
  [ErrorReason.SLOW_CONSUMER]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorReason.INTERNAL]: GrpcStatus.INTERNAL,
  [ErrorReason.SERVICE_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorReason.GROUP_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorReason.GROUP_EXISTS]: GrpcStatus.ALREADY_EXISTS,
  [ErrorReason.UNAUTHENTICATED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorReason.PERMISSION_DENIED]: GrpcStatus.PERMISSION_DENIED,
} as const satisfies Record<ErrorReason, GrpcStatus>;

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

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

/** The grpc-js status object for an error: code, message and the packed details trailer. */
export function toGrpcStatus(err: unknown, log: Logger): StatusObject {
  const domain = toDomainError(err, log);
  const status = toStatusMessage(domain);
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  return { code: status.code, details: status.message, metadata };
}
