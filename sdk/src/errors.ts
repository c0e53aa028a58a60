import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyIs, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  ErrorReason,
  ErrorReasonSchema,
  StatusSchema,
  type BadRequest_FieldViolation,
  type Status,
} from "./gen/qingyu/broker/v1/errors_pb.js";

const DETAILS_KEY = "grpc-status-details-bin";

/** A gRPC status code, e.g. `3` (INVALID_ARGUMENT). */
export type StatusCode = GrpcStatus;
export { GrpcStatus as Code };

/** Options of the {@link BrokerError} constructor. */
export interface BrokerErrorOptions {
  reason?: ErrorReason;
  details?: readonly Any[];
  metadata?: Readonly<Record<string, string>>;
  cause?: unknown;
}

/**
 * The one error type of the SDK: a gRPC status code, the broker's reason, and typed details.
 * Branch on `code` and `reason`, never on the message text.
 */
export class BrokerError extends Error {
  override name = "BrokerError";
  /** The gRPC status code. */
  readonly code: StatusCode;
  /** Why the broker refused the call; UNSPECIFIED for transport errors (e.g. DEADLINE_EXCEEDED). */
  readonly reason: ErrorReason;
  /** Typed details after the ErrorInfo (BadRequest, IdConflict, LimitExceeded, ResumeInfo). */
  readonly details: readonly Any[];
  /** ErrorInfo.metadata, e.g. the index of the failing event of a batch. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(code: StatusCode, message: string, options: BrokerErrorOptions = {}) {
    super(`[${GrpcStatus[code] ?? code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason ?? ErrorReason.UNSPECIFIED;
    this.details = options.details ?? [];
    this.metadata = options.metadata ?? {};
  }

  /** The details of one type, e.g. `err.findDetails(IdConflictSchema)`. */
  findDetails<D extends DescMessage>(schema: D): MessageShape<D>[] {
    return this.details.filter((d) => anyIs(d, schema)).map((d) => anyUnpack(d, schema) as MessageShape<D>);
  }

  /** The field violations of an INVALID_ARGUMENT error (empty otherwise). */
  get violations(): BadRequest_FieldViolation[] {
    return this.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations);
  }

  /** Converts anything thrown by a call (grpc-js ServiceError or not) into a BrokerError. */
  static from(err: unknown): BrokerError {
    if (err instanceof BrokerError) return err;
    if (isServiceError(err)) return fromServiceError(err);
    const message = err instanceof Error ? err.message : String(err);
    return new BrokerError(GrpcStatus.UNKNOWN, message, { cause: err });
  }

  /** A BrokerError from a `qingyu.broker.v1.Status` (as carried by PublishStream acknowledgements). */
  static fromStatus(status: Status, cause?: unknown): BrokerError {
    const [first, ...rest] = status.details;
    const info = first && anyIs(first, ErrorInfoSchema) ? anyUnpack(first, ErrorInfoSchema) : undefined;
    const reason = ErrorReasonSchema.values.find((v) => v.name === info?.reason)?.number ?? ErrorReason.UNSPECIFIED;
    return new BrokerError(status.code as StatusCode, status.message, {
      reason,
      details: info ? rest : status.details,
      metadata: info?.metadata ?? {},
      cause,
    });
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "metadata" in err;
}

function fromServiceError(err: ServiceError): BrokerError {
  const raw = err.metadata?.get(DETAILS_KEY)[0];
  if (raw instanceof Buffer) {
    try {
      return BrokerError.fromStatus(fromBinary(StatusSchema, raw), err);
    } catch {
      // A status trailer we cannot read: fall back to code and message.
    }
  }
  return new BrokerError(err.code, err.details || err.message, { cause: err });
}

/** True for a BrokerError, also one from another copy of the SDK (checks the shape, not the class). */
export function isBrokerError(err: unknown): err is BrokerError {
  return err instanceof Error && err.name === "BrokerError" && typeof (err as { code?: unknown }).code === "number";
}
