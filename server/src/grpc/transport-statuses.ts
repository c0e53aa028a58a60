// grpc-js answers some requests it cannot decode before any handler runs, with codes README does
// not promise: an empty or doubled unary body is UNIMPLEMENTED, a body that does not decompress or
// a malformed grpc-timeout INTERNAL. They are the client's mistake: they become INVALID_ARGUMENT
// (reason MALFORMED_REQUEST) with our usual details. The first two pass through server
// interceptors (undecodableAsInvalid); the others are sent by grpc-js's own call object, beneath
// every interceptor, and are rewritten there (grpc-internals.ts, with `asInvalidArgument`).
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

/**
 * A server interceptor that reports undecodable requests as INVALID_ARGUMENT. Only calls that take
 * one request message can be undecodable this way, so calls that stream requests keep grpc-js's own
 * call: wrapped in a ServerInterceptingCall, request streams stalled mid-message were neither
 * refused nor ended by the incomplete-message bounds, and the connection's other streams could not
 * send (test/faults/incomplete-messages.test.ts hung; the cause inside grpc-js is not pinned down).
 */
export function undecodableAsInvalid(log: Logger): grpc.ServerInterceptor {
  return (method, call) =>
    method.requestStream
      ? // why: grpc-js types an interceptor's result as its class, but uses only the interface it is given.
        (call as grpc.ServerInterceptingCall)
      : new grpc.ServerInterceptingCall(
          call,
          new grpc.ResponderBuilder().withSendStatus((status, next) => next(asInvalidArgument(status, method.path, log))).build(),
        );
}
