// grpc-js answers some requests it cannot decode before any handler runs, with codes README does
// not promise: an empty or doubled unary body is UNIMPLEMENTED. They are the client's mistake: this
// interceptor turns them into INVALID_ARGUMENT (reason MALFORMED_REQUEST) with our usual details.
// Not reached (yet): a body that does not decompress and a malformed grpc-timeout, which grpc-js
// answers (INTERNAL) from its own call object, beneath every interceptor.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../errors.js";
import { toGrpcStatus } from "./to-status.js";

/** grpc-js's own statuses for undecodable requests (1.14), by code and the start of the details. */
const UNDECODABLE: readonly { code: grpc.status; details: RegExp; says: string }[] = [
  { code: grpc.status.UNIMPLEMENTED, details: /^Received a second request message/, says: "more than one request message on a call that takes one" },
  { code: grpc.status.UNIMPLEMENTED, details: /^Received no request message/, says: "no request message" },
];

/** A server interceptor that reports undecodable requests as INVALID_ARGUMENT. */
export function undecodableAsInvalid(log: Logger): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(
      call,
      new grpc.ResponderBuilder()
        .withSendStatus((status, next) => {
          const known = UNDECODABLE.find((u) => u.code === status.code && u.details.test(status.details));
          if (!known) return next(status);
          const err = new DomainError(ErrorReason.MALFORMED_REQUEST, `request is not a valid ${method.path.split("/").pop() ?? ""} call: ${known.says}`);
          const fixed = toGrpcStatus(err, log);
          next({ code: fixed.code, details: fixed.details, metadata: fixed.metadata ?? null });
        })
        .build(),
    );
}
