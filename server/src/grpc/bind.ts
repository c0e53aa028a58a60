// Binds transport-free handlers `(req, ctx) => Promise<Res>` (or async iterables for streams) to
// grpc-js. Everything grpc-js-specific about a call lives here: cancellation, deadlines, write
// back-pressure, decode failures and the mapping of errors to statuses.
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import type { PeerCertificate } from "node:tls";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DecodeFailure, grpcServiceDefinition } from "../../../sdk/src/grpc/service-definition.js";
import { Fifo } from "../../../sdk/src/fifo.js";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { DomainError } from "../errors.js";
import {
  abortReasonOr,
  openCall,
  type BidiStreamHandler,
  type CallOptions,
  type HandlerContext,
  type ServerStreamHandler,
  type ServiceHandlers,
  type UnaryHandler,
} from "../services/handler-context.js";
import { adoptCall } from "./grpc-internals.js";
import { presentedBy } from "./call-identity.js";
import { grpcStatusOf } from "./to-status.js";

function malformed(failure: DecodeFailure): DomainError {
  const detail = failure.cause instanceof Error ? failure.cause.message : "undecodable bytes";
  return new DomainError(ErrorReason.MALFORMED_REQUEST, `request is not a valid ${failure.method} message: ${detail}`);
}

function checked<T>(req: T | DecodeFailure): T {
  if (req instanceof DecodeFailure) throw malformed(req);
  return req;
}

interface CallLike {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate } | null;
  getDeadline(): grpc.Deadline;
  /** Set by grpc-js when the call is over: cancelled by the client, or its status sent. */
  readonly cancelled: boolean;
  on(event: "cancelled", listener: () => void): unknown;
}

function deadlineOf(call: CallLike): Date | undefined {
  const d = call.getDeadline();
  if (d === Infinity) return undefined;
  return d instanceof Date ? d : new Date(d);
}

/** The shared call (see services/handler-context.ts) with what grpc-js adds: cancellation and the stream's end. */
function contextFor(call: CallLike, method: DescMethod, o: BindOptions) {
  const open = openCall({ method, deadline: deadlineOf(call), peer: () => call.getPeer() }, o);
  const { ctx } = open;
  let handlerDone = false;
  let ended: (() => void) | undefined;
  // grpc-js reports every call as cancelled once its status is sent, not only a client's
  // cancellation: only one that comes while the handler runs means anything, and building an error
  // for the others would cost every call.
  call.on("cancelled", () => {
    if (!handlerDone) open.controller.abort(new DomainError(ErrorReason.UNSPECIFIED, "cancelled by the client"));
    ended?.();
  });
  const fail = (err: unknown): grpc.StatusObject => grpcStatusOf(open.fail(err));
  /** The handler is done; a unary call's response is about to be sent. */
  const close = (): void => {
    handlerDone = true;
    open.close();
  };
  /**
   * The handler is done and the stream's end (status) is on its way: the call stays live until
   * grpc-js has sent it after the responses still queued, so that shutdown does not cut it short.
   */
  const closeWhenEnded = (): void => {
    handlerDone = true;
    if (call.cancelled) open.close();
    else ended = open.close;
  };
  /** Authenticates the call (UNAUTHENTICATED ends it before its handler runs). */
  const admit = (): Promise<void> => open.admit(() => presentedBy(call));
  return { ctx, fail, close, closeWhenEnded, admit };
}

type OutCall = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/**
 * Responses a stream may queue before its handler waits for them to be written. grpc-js's own mark
 * (16, object mode) let a PublishStream send only ~16 acknowledgements per event-loop turn, which
 * capped streaming ingest; the bound still holds a stalled reader to a few hundred messages.
 */
export const MAX_QUEUED_RESPONSES = 256;

/** Writes responses with back-pressure: waits for 'drain' once MAX_QUEUED_RESPONSES are queued. */
async function writeAll(call: OutCall, responses: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
  // Handlers decide what an abort means (a replay stops, a publish stream still sends the
  // acknowledgements it owes), so only the wait for 'drain' is cut short by it. A write past
  // grpc-js's mark returns false and arms 'drain', which comes once the queue is empty.
  for await (const res of responses) {
    if (!call.write(res) && call.writableLength >= MAX_QUEUED_RESPONSES && !call.cancelled) await once(call, "drain", { signal });
  }
}

type BindOptions = CallOptions;

function bindUnary(method: DescMethod, handler: UnaryHandler<DescMessage, DescMessage>, o: BindOptions): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const { ctx, fail, close, admit } = contextFor(call, method, o);
    admit()
      .then(() => handler(checked(call.request) as never, ctx))
      .then(
        (res) => {
          close();
          callback(null, res);
        },
        (err: unknown) => {
          const status = fail(err);
          close();
          callback(status);
        },
      );
  };
}

function bindServerStream(method: DescMethod, handler: ServerStreamHandler<DescMessage, DescMessage>, o: BindOptions): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const { ctx, fail, closeWhenEnded, admit } = contextFor(call, method, o);
    adoptCall(call);
    admit()
      .then(() => writeAll(call, handler(checked(call.request) as never, ctx), ctx.signal))
      .then(() => endStream(call, ctx, fail))
      .catch((err: unknown) => destroyWith(call, fail(abortReasonOr(ctx, err))))
      .finally(closeWhenEnded);
  };
}

/** Requests a bidi stream reads ahead of its handler before it pauses the client. */
const REQUEST_READ_AHEAD = 64;

/**
 * A bidi call's requests. Read from 'data' events rather than the stream's own async iterator: that
 * one destroys the stream when an 'error' event reaches it, and grpc-js takes the error that ends a
 * call (a shutdown, a slow consumer) as an 'error' event, so the responses still queued and the
 * status would be lost. Ends when the client half-closes or the call ends.
 */
async function* requests<T>(call: grpc.ServerDuplexStream<unknown, unknown>): AsyncIterable<T> {
  const queue = new Fifo<unknown>();
  let ended = false;
  let wake: (() => void) | undefined;
  const onData = (req: unknown) => {
    queue.push(req);
    if (queue.length >= REQUEST_READ_AHEAD) call.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  call.on("data", onData);
  call.on("end", onEnd);
  call.on("error", onEnd);
  call.on("close", onEnd);
  try {
    for (;;) {
      if (queue.length > 0) {
        const req = queue.shift();
        if (queue.length === 0 && call.isPaused()) call.resume();
        yield checked(req as T | DecodeFailure);
      } else if (ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    }
  } finally {
    call.off("data", onData);
    call.off("end", onEnd);
    call.off("error", onEnd);
    call.off("close", onEnd);
  }
}

function bindBidi(method: DescMethod, handler: BidiStreamHandler<DescMessage, DescMessage>, o: BindOptions): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const { ctx, fail, closeWhenEnded, admit } = contextFor(call, method, o);
    adoptCall(call);
    admit()
      .then(() => writeAll(call, handler(requests(call), ctx), ctx.signal))
      .then(() => endStream(call, ctx, fail))
      .catch((err: unknown) => destroyWith(call, fail(abortReasonOr(ctx, err))))
      .finally(closeWhenEnded);
  };
}

/** Ends a stream: OK, or the abort reason when the server ended it (shutdown, slow consumer). */
function endStream(call: OutCall, ctx: HandlerContext, fail: (err: unknown) => grpc.StatusObject): void {
  const reason: unknown = ctx.signal.reason;
  if (ctx.signal.aborted && reason instanceof DomainError && reason.reason !== ErrorReason.UNSPECIFIED) {
    destroyWith(call, fail(reason));
    return;
  }
  call.end();
}

function destroyWith(call: OutCall, status: grpc.StatusObject): void {
  if (call.cancelled) return;
  // grpc-js sends a status given to emit('error') with its metadata as trailers.
  call.emit("error", Object.assign(new Error(status.details), status));
}

/**
 * Adds a service to a grpc-js server with transport-free handlers.
 * @param options.calls registry of live calls, for shutdown
 */
export function addService<S extends DescService>(server: grpc.Server, service: S, handlers: ServiceHandlers<S>, options: BindOptions): void {
  const definition = grpcServiceDefinition(service, { lenientRequests: true, keepRawOf: [EventSchema] });
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = (handlers as Record<string, unknown>)[method.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${method.parent.typeName}/${method.name}`);
    switch (method.methodKind) {
      case "unary":
        impl[method.localName] = bindUnary(method, handler as UnaryHandler<DescMessage, DescMessage>, options);
        break;
      case "server_streaming":
        impl[method.localName] = bindServerStream(method, handler as ServerStreamHandler<DescMessage, DescMessage>, options);
        break;
      case "bidi_streaming":
        impl[method.localName] = bindBidi(method, handler as BidiStreamHandler<DescMessage, DescMessage>, options);
        break;
      default:
        throw new Error(`unsupported method kind ${method.methodKind}`);
    }
  }
  server.addService(definition, impl);
}
