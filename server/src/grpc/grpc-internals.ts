// Every grpc-js internal the broker reaches into, in one place. grpc-js has no public API for
// these, so each patch checks the shape it was written against (grpc-js 1.14) and, when that shape
// is not there, changes nothing and reports itself off; `startBroker` logs the report once at
// start-up (calls, which exist only later, report the first miss). The patches:
// - receive windows: grpc-js's server keeps HTTP/2's 64 KiB windows (it honours
//   `grpc-node.flow_control_window` only on its client, which the SDK sets); streaming ingest
//   stalled near 20 k events/s waiting for window updates. Widened per stream (SETTINGS) and per
//   connection (on each session).
// - coalesced writes: grpc-js writes one message per HTTP/2 write; messages that queue up are
//   written together (see coalesceWrites).
// - incomplete messages: bytes of partly received messages are bounded per connection and in total,
//   and a message that stops moving is ended (incomplete-messages.ts).
// - preface timeout: a connection that never sends the HTTP/2 preface is closed.
// - gRPC-web refused: grpc-js takes application/grpc-web for gRPC; it is answered HTTP 415.
// - statuses grpc-js's own call sends for undecodable requests (a body that does not decompress, a
//   malformed grpc-timeout) become INVALID_ARGUMENT (transport-statuses.ts).
// - every call (unary ones too) is registered by its HTTP/2 stream when grpc-js starts it, so a
//   stream ended for its incomplete message gets a status rather than a bare reset.
import * as grpc from "@grpc/grpc-js";
import { createRequire } from "node:module";
import { constants as h2, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Logger } from "pino";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../errors.js";
import { IncompleteMessages, type IncompleteLimits, type IncompleteVerdict } from "../incomplete-messages.js";
import { toGrpcStatus } from "./to-status.js";
import { asInvalidArgument } from "./transport-statuses.js";

/** The grpc-js minor version these patches were written against. */
export const GRPC_JS_TESTED = "1.14";
export const GRPC_JS_VERSION: string = (createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string }).version;

/** Bytes a client may send on one stream before the broker reads them. */
export const STREAM_RECEIVE_WINDOW = 256 << 10;
/** Bytes a client may send on one connection, all streams together, before the broker reads them. */
export const CONNECTION_RECEIVE_WINDOW = 4 << 20;

/** Which patches took (true) and which are off (false), for the start-up log. */
export type PatchReport = Record<"streamWindow" | "connectionWindow" | "incompleteMessages" | "incompleteStatuses" | "prefaceTimeout" | "undecodableStatuses", boolean>;

interface BaseCallPrototype {
  sendStatus?: (status: { code: grpc.status; details: string }) => void;
  start?: (listener: unknown) => void;
  handler?: { path?: string };
}

/** grpc-js's own call class (BaseServerInterceptingCall), the one under any server interceptors. */
function baseCallPrototype(): BaseCallPrototype | undefined {
  try {
    const module = createRequire(import.meta.url)("@grpc/grpc-js/build/src/server-interceptors.js") as { BaseServerInterceptingCall?: { prototype: BaseCallPrototype } };
    return module.BaseServerInterceptingCall?.prototype;
  } catch {
    return undefined;
  }
}

/** The logger of the latest patched broker (the class is shared by every server in the process). */
let patchedLog: Logger | undefined;
/** Whether start is wrapped (once per process). */
let startPatched = false;

/**
 * grpc-js's BaseServerInterceptingCall.sendStatus, wrapped so that what it sends for undecodable
 * requests is INVALID_ARGUMENT. Patched once per process; the latest broker's logger is used.
 */
function rewriteBaseStatuses(log: Logger): boolean {
  const proto = baseCallPrototype();
  const original = proto?.sendStatus;
  if (!proto || typeof original !== "function") return false;
  if (patchedLog === undefined) {
    proto.sendStatus = function (this: { handler?: { path?: string } }, status) {
      original.call(this, patchedLog ? asInvalidArgument(status, this.handler?.path ?? "", patchedLog) : status);
    };
  }
  patchedLog = log;
  return true;
}

/**
 * grpc-js's BaseServerInterceptingCall.start, wrapped to register each call by its HTTP/2 stream
 * (grpc-js starts every call, unary ones included, in the server's 'stream' event): a stream ended
 * for its incomplete message then gets a status (see endIncomplete), where it would otherwise get a
 * bare reset, which a client shows as "Call cancelled" or "Bandwidth exhausted".
 */
function registerBaseCalls(): boolean {
  const proto = baseCallPrototype();
  const original = proto?.start;
  if (!proto || typeof original !== "function") return false;
  if (!startPatched) {
    proto.start = function (this: unknown, listener) {
      if (isBaseCall(this)) (this.stream as StreamWithCall)[BASE_CALL] = this;
      original.call(this, listener);
    };
    startPatched = true;
  }
  return true;
}

/** The grpc-js 1.14 server internals used here. */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/** Before `bindAsync`: the stream receive window, advertised in the server's SETTINGS. */
function widenStreamWindow(server: grpc.Server): boolean {
  const internals = server as unknown as ServerInternals;
  if (typeof internals.commonServerOptions !== "object" || internals.commonServerOptions === null) return false;
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: STREAM_RECEIVE_WINDOW };
  return true;
}

/** Options of {@link patchServer}. */
export interface PatchOptions {
  readonly incomplete: IncompleteLimits;
  /** How long a new connection may take to send the HTTP/2 preface and its SETTINGS. */
  readonly prefaceTimeoutMs: number;
}

/** What the patches of one server need afterwards: a report, and a stop for its timers. */
export interface PatchedServer {
  readonly report: PatchReport;
  /** Bytes held in incomplete messages now (for tests and metrics). */
  incompleteBytes(): number;
  /** The count and bounds of incomplete messages, for the HTTP port's request bodies too. */
  readonly incomplete: IncompleteMessages;
  /** Stops the patches' timers (at shutdown). */
  stop(): void;
}

/**
 * Patches a grpc-js server: call it before `bindAsync` (the stream window goes into the server's
 * SETTINGS), then `after()` once bound (the other patches hook the bound HTTP/2 servers).
 */
export function patchServer(server: grpc.Server, options: PatchOptions, log: Logger): { after(): PatchedServer } {
  const streamWindow = widenStreamWindow(server);
  const undecodableStatuses = rewriteBaseStatuses(log);
  const incompleteStatuses = registerBaseCalls();
  reportMiss = () => log.warn({ grpcJs: GRPC_JS_VERSION, tested: GRPC_JS_TESTED }, "grpc-js call internals differ: responses are written one message at a time");
  return {
    after() {
      const servers = (server as unknown as ServerInternals).http2Servers;
      const bound = servers instanceof Map && servers.size > 0 ? [...servers.keys()] : [];
      const guard = new IncompleteMessages(options.incomplete, Date.now);
      const sweep = setInterval(() => guard.sweep(), Math.max(10, Math.floor(options.incomplete.stallMs / 4)));
      sweep.unref();
      for (const http2Server of bound) watchSessions(http2Server, guard, options.prefaceTimeoutMs, log);
      const ok = bound.length > 0;
      const report: PatchReport = { streamWindow, connectionWindow: ok, incompleteMessages: ok, incompleteStatuses, prefaceTimeout: ok, undecodableStatuses };
      return { report, incompleteBytes: () => guard.held, incomplete: guard, stop: () => clearInterval(sweep) };
    },
  };
}

/** Logs, once, the grpc-js version and any patch that is off (warn) or that all took (info). */
export function logPatchReport(report: PatchReport, log: Logger): void {
  const off = Object.entries(report).flatMap(([name, on]) => (on ? [] : [name]));
  const tested = GRPC_JS_VERSION.startsWith(`${GRPC_JS_TESTED}.`);
  if (off.length === 0 && tested) return;
  log.warn({ grpcJs: GRPC_JS_VERSION, tested: GRPC_JS_TESTED, off }, "grpc-js internals differ from the version these patches were written for: some bounds or optimisations are off");
}

/** Each new connection: a wider receive window, a preface timeout, and its incomplete-message count. */
function watchSessions(http2Server: Http2Server, guard: IncompleteMessages, prefaceTimeoutMs: number, log: Logger): void {
  const counts = new WeakMap<Http2Session, ReturnType<IncompleteMessages["connection"]>>();
  http2Server.on("session", (session: Http2Session) => {
    counts.set(session, guard.connection());
    try {
      session.setLocalWindowSize(CONNECTION_RECEIVE_WINDOW);
    } catch {
      // The session is already closing.
    }
    // The client's SETTINGS follow its preface; a connection that sends neither is closed.
    const silent = setTimeout(() => {
      log.debug({ timeoutMs: prefaceTimeoutMs }, "connection closed: no HTTP/2 preface");
      session.destroy();
    }, prefaceTimeoutMs);
    silent.unref();
    session.once("remoteSettings", () => clearTimeout(silent));
    session.once("close", () => clearTimeout(silent));
  });
  // Before grpc-js's handler: gRPC-web (which grpc-js would take for gRPC, as its content type
  // starts with application/grpc) is refused like any other non-gRPC content type, with HTTP 415.
  http2Server.prependListener("stream", (_stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    if (headers["content-type"]?.toLowerCase().startsWith("application/grpc-web")) headers["content-type"] = "application/x-grpc-web-refused";
  });
  // Listened to after grpc-js's own handler, which pauses the stream: a second 'data' listener sees
  // the same chunks and does not make the stream flow.
  http2Server.on("stream", (stream: ServerHttp2Stream) => {
    const conn = stream.session && counts.get(stream.session);
    if (!conn) return;
    const tracked = guard.track(conn, (verdict) => endIncomplete(stream, verdict, log), () => stream.isPaused());
    stream.on("data", tracked.data);
    stream.once("close", tracked.close);
  });
}

/** The status a stream ended for its incomplete message gets. */
function verdictStatus(verdict: IncompleteVerdict, log: Logger): grpc.StatusObject {
  if (verdict.kind === "stalled" || verdict.kind === "too-slow") {
    const got = verdict.announced === 0 ? `${verdict.received} of its 5-byte prefix` : `${verdict.received} of ${verdict.announced + 5} bytes`;
    const why = verdict.kind === "stalled" ? `none for ${verdict.idleMs} ms` : `in ${verdict.ageMs} ms, more than the BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS a message may take`;
    return { code: grpc.status.CANCELLED, details: `request message incomplete: ${got} received, ${why}`, metadata: new grpc.Metadata() };
  }
  const scope = verdict.kind === "connection-bytes" ? "this connection's" : "the broker's";
  const err = new DomainError(ErrorReason.OVERLOADED, `${scope} incomplete request messages hold ${verdict.held} bytes, above the limit of ${verdict.limit}`);
  return toGrpcStatus(err, log);
}

/**
 * Ends a stream whose incomplete message passed a bound. If grpc-js has sent nothing on it yet, the
 * status goes out as a trailers-only response (the usual case: the first message never completed),
 * then RST_STREAM NO_ERROR tells the client to stop sending (RFC 9113, 8.1). Otherwise, or when
 * grpc-js's call was not registered (its internals differ), the stream is reset (a client sees
 * RESOURCE_EXHAUSTED for ENHANCE_YOUR_CALM, CANCELLED for CANCEL). Either way the stream closes, so
 * grpc-js drops the chunks it held.
 */
function endIncomplete(stream: ServerHttp2Stream, verdict: IncompleteVerdict, log: Logger): void {
  // A client's doing, like any caller mistake: debug (broker_incomplete_message_bytes shows the load).
  log.debug({ verdict }, "request stream ended: incomplete message");
  const status = verdictStatus(verdict, log);
  const base = (stream as StreamWithCall)[BASE_CALL];
  if (base && !base.metadataSent && !base.checkCancelled()) {
    base.sendStatus({ code: status.code, details: status.details, metadata: status.metadata });
    stream.close(h2.NGHTTP2_NO_ERROR);
  } else {
    stream.close(verdict.kind === "stalled" || verdict.kind === "too-slow" ? h2.NGHTTP2_CANCEL : h2.NGHTTP2_ENHANCE_YOUR_CALM);
  }
  // A closed stream is destroyed only once its readable side ends: one grpc-js paused would stay
  // in its session, with everything it held, until the connection closed.
  stream.resume();
}

type OutCall = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** The parts of grpc-js's own call object (BaseServerInterceptingCall) used here. */
interface BaseCall {
  serializeMessage(message: unknown): Buffer;
  maybeSendMetadata(): void;
  checkCancelled(): boolean;
  sendStatus(status: { code: grpc.status; details: string; metadata: grpc.Metadata | null }): void;
  metadataSent: boolean;
  /** -1: no limit. */
  maxSendMessageSize: number;
  stream: ServerHttp2Stream;
}

/**
 * grpc-js's call of an HTTP/2 stream (registerBaseCalls), so a bound can end it with a status: kept on
 * the stream, not in a WeakMap, whose entries V8's young-generation GC keeps alive until the next
 * full GC (every call's objects would be promoted; BENCHMARKS.md, issue 18).
 */
const BASE_CALL = Symbol("qingyu.baseCall");

type StreamWithCall = ServerHttp2Stream & { [BASE_CALL]?: BaseCall };

/** Whether `call` has the parts of grpc-js's own call that ending it with a status uses. */
function isBaseCall(call: unknown): call is BaseCall {
  const c = call as Partial<BaseCall> | null;
  return (
    typeof c === "object" &&
    c !== null &&
    typeof c.checkCancelled === "function" &&
    typeof c.sendStatus === "function" &&
    typeof c.metadataSent === "boolean" &&
    typeof c.stream?.close === "function"
  );
}

/** grpc-js's own call under a stream's call, through any server interceptors (`nextCall`). */
function baseCallOf(call: OutCall): BaseCall | undefined {
  let base = (call as unknown as { call?: Partial<BaseCall> & { nextCall?: unknown } }).call;
  for (let depth = 0; base && typeof base.serializeMessage !== "function" && base.nextCall && depth < 16; depth++) {
    base = base.nextCall as typeof base;
  }
  const fits =
    base &&
    typeof base.serializeMessage === "function" &&
    typeof base.maybeSendMetadata === "function" &&
    typeof base.checkCancelled === "function" &&
    typeof base.sendStatus === "function" &&
    typeof base.metadataSent === "boolean" &&
    typeof base.maxSendMessageSize === "number" &&
    typeof base.stream?.write === "function";
  return fits ? (base as BaseCall) : undefined;
}

/** Frames messages as grpc-js's own write would, with its checks: undefined once it sent an error status. */
function framesFor(base: BaseCall, chunks: readonly { chunk: unknown }[]): Buffer[] | undefined {
  const frames: Buffer[] = [];
  try {
    for (const c of chunks) frames.push(base.serializeMessage(c.chunk));
  } catch {
    base.sendStatus({ code: grpc.status.INTERNAL, details: "Error serializing response", metadata: null });
    return undefined;
  }
  const limit = base.maxSendMessageSize;
  const tooLarge = limit === -1 ? undefined : frames.find((f) => f.length - 5 > limit);
  if (tooLarge) {
    base.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${tooLarge.length - 5} vs. ${limit})`, metadata: null });
    return undefined;
  }
  return frames;
}

/** How often coalescing was set up and used, since start: lets tests see that it works. */
export const coalescing = { calls: 0, writes: 0, messages: 0, missed: 0 };

/** Logs (once) that a call did not have the shape adoptCall needs; set by patchServer. */
let reportMiss: (() => void) | undefined;

/**
 * Takes over a streaming call's writes.
 *
 * grpc-js writes one message per HTTP/2 write and waits for it before the next: a stream of small
 * messages (acknowledgements, deliveries) costs a DATA frame and a socket write each. Messages that
 * queue up meanwhile are written together here, as one write of consecutive gRPC frames (which the
 * protocol allows: a DATA frame may carry several messages). Used only when grpc-js's call has the
 * shape this was written against (1.14); otherwise grpc-js writes each message itself and
 * `coalescing.missed` counts it.
 */
export function adoptCall(call: OutCall): void {
  const base = baseCallOf(call);
  if (!base) {
    if (coalescing.missed++ === 0) reportMiss?.();
    return;
  }
  coalescing.calls++;
  const writable = call as unknown as { _writev?: (chunks: { chunk: unknown }[], cb: (err?: Error | null) => void) => void };
  // As in grpc-js, a call that is over (cancelled, or ended with an error status) takes no more
  // writes and does not call back: its stream is done.
  writable._writev = (chunks, cb) => {
    if (base.checkCancelled()) return;
    const frames = framesFor(base, chunks);
    if (!frames) return;
    coalescing.writes++;
    coalescing.messages += frames.length;
    base.maybeSendMetadata();
    base.stream.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames), (err) => cb(err ?? null));
  };
}
