// grpc-js answers some requests it cannot decode before any handler runs, with codes README does
// not promise: an empty or doubled unary body is UNIMPLEMENTED, a body that does not decompress or
// a malformed grpc-timeout INTERNAL. They are the client's mistake: they become INVALID_ARGUMENT
// (reason MALFORMED_REQUEST) with our usual details. grpc-js sends all four from its own call object
// (BaseServerInterceptingCall), beneath every interceptor, and they are rewritten there
// (grpc-internals.ts, with `asInvalidArgument`); if that patch is off, the broker says so at start-up.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../errors.js";
import { toGrpcStatus } from "./to-status.js";

/** grpc-js's own statuses for undecodable requests (1.14), by code and the start of the details. */
const UNDECODABLE: readonly { code: grpc.status; details: RegExp; says: string }[] = [
  { code: grpc.status.UNIMPLEMENTED, details: /^Received a second request message/, says: "more than one request message on a call that takes one" },
  { code: grpc.status.UNIMPLEMENTED, details: /^Received no request message/, says: "no request message" },
  { code: grpc.status.INTERNAL, details: /^Failed to decompress message/, says: "the message does not decompress with its grpc-encoding" },
  { code: grpc.status.INTERNAL, details: /^Invalid grpc-timeout value/, says: "malformed grpc-timeout header" },
];

type SentStatus = { code: grpc.status; details: string; metadata?: grpc.Metadata | null | undefined };

/** `status` as INVALID_ARGUMENT when it is grpc-js's answer to an undecodable request, else itself. */
export function asInvalidArgument<S extends SentStatus>(status: S, path: string, log: Logger): S {
  const known = UNDECODABLE.find((u) => u.code === status.code && u.details.test(status.details));
  if (!known) return status;
  const err = new DomainError(ErrorReason.MALFORMED_REQUEST, `request is not a valid ${path.split("/").pop() ?? ""} call: ${known.says}`);
  const fixed = toGrpcStatus(err, log);
  return { ...status, code: fixed.code, details: fixed.details, metadata: fixed.metadata ?? null };
}
