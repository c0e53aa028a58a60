// A status (server/src/status.ts) as grpc-js sends it: code, message, and the packed Status in the
// `grpc-status-details-bin` trailer.
import { toBinary } from "@bufbuild/protobuf";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { StatusSchema, type Status } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { toDomainError, toStatusMessage } from "../status.js";

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** The grpc-js status object for an error: code, message and the packed details trailer. */
export function toGrpcStatus(err: unknown, log: Logger): StatusObject {
  return grpcStatusOf(toStatusMessage(toDomainError(err, log)));
}

/** The grpc-js status object for a status message: code, message and the packed details trailer. */
export function grpcStatusOf(status: Status): StatusObject {
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  return { code: status.code, details: status.message, metadata };
}
