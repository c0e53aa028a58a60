// The broker's services over Connect (JSON and binary, unary and server-streaming) and gRPC-web,
// through @connectrpc/connect: a thin adapter over the same transport-free handlers the gRPC port
// binds (services/handler-context.ts runs the call: authentication, logging, shutdown). Only what
// Connect does differently lives here: its context, its errors, and refusing streams from the client.
import { create, createRegistry, fromBinary, isMessage, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code as ConnectCode, ConnectError, createContextKey, type ConnectRouter, type HandlerContext as ConnectContext } from "@connectrpc/connect";
import type { PeerCertificate } from "node:tls";
import { file_qingyu_broker_v1_errors, ErrorReason, type Status } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { createAsyncIterable, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import type { Presented } from "../auth/authenticate.js";
import { toStatusMessage } from "../status.js";
import { DomainError } from "../errors.js";
import { abortReasonOr, openCall, type CallOptions, type HandlerContext, type OpenCall, type Out, type ServiceHandlers } from "../services/handler-context.js";
import { certificateNames } from "../auth/certificate-names.js";

/** What the HTTP server found on the connection: read by the handlers through Connect's context values. */
export interface HttpPeer {
  readonly address: string;
  /** The client certificate TLS verified, when the port runs mutual TLS. */
  readonly certificate: PeerCertificate | undefined;
  /** Settles once the response is written to its end (or the client is gone). */
  readonly responded: Promise<void>;
}

export const httpPeerKey = createContextKey<HttpPeer>({ address: "unknown", certificate: undefined, responded: Promise.resolve() }, { description: "the HTTP client" });

/** The typed details of the broker's errors, so Connect's error JSON shows them readably (`debug`). */
const errorDetails = createRegistry(file_qingyu_broker_v1_errors);

/** A status as a Connect error: same code, message and details (ErrorInfo first) as the gRPC port sends. */
export function connectErrorOf(status: Status): ConnectError {
  const err = new ConnectError(status.message, status.code as ConnectCode);
  for (const any of status.details) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    const desc = errorDetails.getMessage(type);
    const value = desc && anyUnpack(any, desc);
    err.details.push(desc && value ? { desc, value } : { type, value: any.value });
  }
  return err;
}

function presentedBy(cctx: ConnectContext): Presented {
  const authorization = cctx.requestHeader.get("authorization");
  return { authorization: authorization ?? undefined, certificateNames: certificateNames(cctx.values.get(httpPeerKey).certificate) };
}

/** Opens the shared call for a Connect call; its signal follows Connect's (client gone, timeout). */
function open(method: DescMethod, cctx: ConnectContext, o: CallOptions): OpenCall & { done(): void } {
  const timeoutMs = cctx.timeoutMs();
  const call = openCall({ method, deadline: timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs), peer: () => cctx.values.get(httpPeerKey).address }, o);
  const onAbort = () => call.controller.abort(new DomainError(ErrorReason.UNSPECIFIED, "cancelled by the client"));
  if (cctx.signal.aborted) onAbort();
  else cctx.signal.addEventListener("abort", onAbort, { once: true });
  // The call stays live until its response (a stream's end and its status) is written, so that
  // shutdown, which closes connections once no call is live, does not cut it short.
  const done = () => {
    cctx.signal.removeEventListener("abort", onAbort);
    void cctx.values.get(httpPeerKey).responded.then(call.close);
  };
  return { ...call, done };
}

/** A handler's response as a message: bytes encoded once (a stored event) are decoded for Connect's serialisers. */
function message(schema: DescMessage, out: Out<DescMessage>) {
  if (out instanceof Uint8Array) return fromBinary(schema, out);
  return isMessage(out, schema) ? out : create(schema, out);
}

/**
 * A call Connect ended itself (its timeout, or the client went away) keeps Connect's own error;
 * every other failure is the broker's status.
 */
function failure(call: OpenCall, cctx: ConnectContext, err: unknown): ConnectError {
  const status = call.fail(err);
  return cctx.signal.aborted ? ConnectError.from(cctx.signal.reason) : connectErrorOf(status);
}

type Unary = (req: unknown, ctx: HandlerContext) => Promise<Out<DescMessage>>;
type ServerStream = (req: unknown, ctx: HandlerContext) => AsyncIterable<Out<DescMessage>>;

function unary(method: DescMethod, handler: Unary, o: CallOptions) {
  return async (req: unknown, cctx: ConnectContext) => {
    const call = open(method, cctx, o);
    try {
      await call.admit(() => presentedBy(cctx));
      return message(method.output, await handler(req, call.ctx));
    } catch (err) {
      throw failure(call, cctx, err);
    } finally {
      call.done();
    }
  };
}

function serverStream(method: DescMethod, handler: ServerStream, o: CallOptions) {
  return async function* (req: unknown, cctx: ConnectContext) {
    const call = open(method, cctx, o);
    let ended: unknown;
    try {
      await call.admit(() => presentedBy(cctx));
      for await (const out of handler(req, call.ctx)) yield message(method.output, out);
      // A stream the server ended (shutdown, slow consumer) reports why, as on the gRPC port.
      const reason: unknown = call.ctx.signal.reason;
      if (call.ctx.signal.aborted && reason instanceof DomainError && reason.reason !== ErrorReason.UNSPECIFIED) ended = reason;
    } catch (err) {
      ended = abortReasonOr(call.ctx, err);
    } finally {
      call.done();
    }
    if (ended !== undefined) throw failure(call, cctx, ended);
  };
}

/**
 * Registers the unary and server-streaming methods of `service` on a Connect router, over the same
 * handlers as the gRPC port; streams from the client are refused before routing (client-streams.ts).
 */
export function addConnectService<S extends DescService>(router: ConnectRouter, service: S, handlers: ServiceHandlers<S>, o: CallOptions): void {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (handlers as Record<string, unknown>)[method.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${method.parent.typeName}/${method.name}`);
    switch (method.methodKind) {
      case "unary":
        impl[method.localName] = unary(method, handler as Unary, o);
        break;
      case "server_streaming":
        impl[method.localName] = serverStream(method, handler as ServerStream, o);
        break;
    }
  }
  const first = router.handlers.length;
  router.service(service, impl as never);
  for (let i = first; i < router.handlers.length; i++) {
    const h = router.handlers[i];
    if (h) router.handlers[i] = Object.assign(async (req: UniversalServerRequest) => undecodableAsBrokerError(await h(req), h.method, o), h);
  }
}

/**
 * A unary Connect body that does not decode (not JSON, not protobuf, a field of the wrong type) is
 * refused by Connect before any handler runs, with its own INVALID_ARGUMENT (INTERNAL for protobuf)
 * and no details. It
 * becomes the broker's: INVALID_ARGUMENT with reason MALFORMED_REQUEST, worded as the gRPC port
 * words it, logged and counted like any failed call. Only the broker's errors carry details, so
 * an INVALID_ARGUMENT without any is Connect's.
 */
async function undecodableAsBrokerError(res: UniversalServerResponse, method: DescMethod, o: CallOptions): Promise<UniversalServerResponse> {
  const header = res.header;
  if ((res.status !== 400 && res.status !== 500) || !header || header.get("content-type") !== "application/json" || header.has("content-encoding") || !res.body) return res;
  const chunks: Uint8Array[] = [];
  for await (const c of res.body as AsyncIterable<Uint8Array>) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  const connectErr = errorFromJsonBytes(bytes, undefined, new ConnectError("unreadable error", ConnectCode.Internal));
  // Connect calls a protobuf body it cannot parse INTERNAL ("parse binary: ..."): it is the client's too.
  const undecodable = connectErr.details.length === 0 && (connectErr.code === ConnectCode.InvalidArgument || (connectErr.code === ConnectCode.Internal && connectErr.rawMessage.startsWith("parse binary:")));
  if (!undecodable) return { ...res, body: createAsyncIterable([bytes]) };
  const err = new DomainError(ErrorReason.MALFORMED_REQUEST, `request is not a valid ${method.name} message: ${connectErr.rawMessage}`);
  o.log.debug({ rpc: `${method.parent.typeName}/${method.name}`, code: "INVALID_ARGUMENT", detail: err.message }, "call failed");
  o.onError?.(method.name, "INVALID_ARGUMENT");
  const body = errorToJsonBytes(connectErrorOf(toStatusMessage(err)), {});
  header.set("content-length", String(body.byteLength));
  return { ...res, status: 400, body: createAsyncIterable([body]) };
}
