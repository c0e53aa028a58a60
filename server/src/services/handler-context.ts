// What every transport gives a handler, and the life of one call whatever transport brought it:
// its logger, its Access (authentication through the same gate), how its failure is logged and
// counted, and its entry in the registry that shutdown ends. grpc/bind.ts and http/connect-routes.ts
// are thin adapters over this: one implementation of the services, two doors.
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { Status } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import type { Access } from "../auth/access.js";
import type { Presented } from "../auth/authenticate.js";
import { openAccess } from "../auth/gate.js";
import { DomainError } from "../errors.js";
import { toDomainError, toStatusMessage } from "../status.js";
import { CODE_NAMES, Code } from "../status.js";

/** What a handler knows about its call. */
export interface HandlerContext {
  readonly log: Logger;
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
  readonly peer: string;
  /** Who is calling, for audit logs: the authenticated principal (never a header it sent). */
  readonly caller: string;
  /** What the caller may do; handlers ask it before they publish, read or administer. */
  readonly access: Access;
  /** Ends the call from the server side with `reason` as its status (e.g. a slow subscriber). */
  end(this: HandlerContext, reason: DomainError): void;
}

/** A response: a message, its init shape, or bytes already encoded (e.g. a stored event). */
export type Out<O extends DescMessage> = MessageInitShape<O> | Uint8Array;
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>, ctx: HandlerContext) => Promise<Out<O>>;
export type ServerStreamHandler<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>, ctx: HandlerContext) => AsyncIterable<Out<O>>;
export type BidiStreamHandler<I extends DescMessage, O extends DescMessage> = (reqs: AsyncIterable<MessageShape<I>>, ctx: HandlerContext) => AsyncIterable<Out<O>>;

type HandlerFor<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryHandler<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamHandler<I, O>
    : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? BidiStreamHandler<I, O>
      : never;

/** One handler per method of a service, typed from its generated descriptor. */
export type ServiceHandlers<S extends DescService> = S extends { method: infer Methods } ? { [K in keyof Methods]: HandlerFor<Methods[K]> } : never;

/** Tracks live calls of every transport so shutdown can end streams; see {@link CallRegistry.abortAll}. */
export class CallRegistry {
  private readonly live = new Set<AbortController>();
  private nextId = 0;
  private idleWaiters: (() => void)[] = [];

  open(): { controller: AbortController; reqId: number; close: () => void } {
    const controller = new AbortController();
    this.live.add(controller);
    const close = () => {
      this.live.delete(controller);
      if (this.live.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    return { controller, reqId: ++this.nextId, close };
  }

  /** Resolves once no call is live. */
  idle(): Promise<void> {
    return this.live.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get size(): number {
    return this.live.size;
  }

  /** Ends every live call's handler with `reason` (the broker is shutting down). */
  abortAll(reason: unknown): void {
    for (const c of this.live) c.abort(reason);
  }
}

/** Turns what a call presents into its Access; see server/src/auth/gate.ts. */
export type Admitter = (presented: Presented, method: string) => Promise<Access>;

/** Called for every failed call, e.g. to count errors by method and code. */
export type OnCallError = (method: string, code: string) => void;

/**
 * Codes that report the caller's own mistake (a bad request, an id that does not exist, a group
 * that exists already, as every `groups.ensure` on restart causes): logged at debug, counted in
 * metrics, since warnings and errors are for the broker's own trouble.
 */
const CALLER_MISTAKES: ReadonlySet<number> = new Set([Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ALREADY_EXISTS, Code.FAILED_PRECONDITION, Code.OUT_OF_RANGE, Code.CANCELLED]);

/** What a transport tells about a call as it opens it. */
export interface CallSource {
  readonly method: DescMethod;
  readonly deadline: Date | undefined;
  /** The client's address, read when needed. */
  peer(): string;
}

export interface CallOptions {
  log: Logger;
  calls: CallRegistry;
  onError?: OnCallError | undefined;
  /** Authentication; without it every call has every right. */
  admit?: Admitter | undefined;
}

/** One call, as both transports run it: see {@link openCall}. */
export interface OpenCall {
  readonly ctx: HandlerContext;
  /** Aborts the handler's signal (the client went away); a DomainError reason becomes the status. */
  readonly controller: AbortController;
  /** Authenticates the call from what it presents (UNAUTHENTICATED ends it before its handler runs). */
  admit(presented: () => Presented): Promise<void>;
  /** Logs and counts a failure; returns the status to send. */
  fail(err: unknown): Status;
  /** The call is over for the broker: shutdown no longer waits for it. */
  close(): void;
}

type CallEntry = ReturnType<CallRegistry["open"]>;

/**
 * A call's context, with a logger made on first use (a child logger serialises its bindings when
 * made, and most calls never log) and the abort signal made on first read (most unary calls never
 * read it).
 *
 * A class, where an object literal with getters would be shorter, and a signal made lazily: both
 * keep each call's objects in V8's young generation. A literal's getters are new closures on every
 * call, so every context gets a hidden class (map) of its own, in the old generation; Node 20 builds
 * an AbortSignal by swapping an EventTarget's prototype. Through either, a young-generation GC
 * keeps the whole call (context, grpc-js call, HTTP/2 stream) alive until the next full GC: it is
 * copied, promoted, and collected by a mark-compact, which at 1,000 calls/s made every scavenge
 * ~6 ms long (BENCHMARKS.md, issue 18).
 */
class CallContext implements HandlerContext {
  access: Access;
  readonly deadline: Date | undefined;
  private logger: Logger | undefined;
  constructor(
    private readonly source: CallSource,
    private readonly entry: CallEntry,
    private readonly baseLog: Logger,
  ) {
    this.access = openAccess(source.method.name);
    this.deadline = source.deadline;
  }

  get log(): Logger {
    const { method } = this.source;
    return (this.logger ??= this.baseLog.child({ rpc: `${method.parent.typeName}/${method.name}`, reqId: this.entry.reqId }));
  }

  get signal(): AbortSignal {
    return this.entry.controller.signal;
  }

  get peer(): string {
    return this.source.peer();
  }

  get caller(): string {
    return this.access.principal.via === "none" ? `${this.access.caller} (${this.source.peer()})` : this.access.caller;
  }

  end(reason: DomainError): void {
    this.entry.controller.abort(reason);
  }
}

/** Opens a call: its context, registered for shutdown. */
export function openCall(source: CallSource, o: CallOptions): OpenCall {
  const { method } = source;
  const entry = o.calls.open();
  const ctx = new CallContext(source, entry, o.log);
  return {
    ctx,
    controller: entry.controller,
    admit: async (presented) => {
      if (o.admit) ctx.access = await o.admit(presented(), `${method.parent.name}/${method.name}`);
    },
    fail: (err) => {
      const status = toStatusMessage(toDomainError(err, ctx.log));
      const level = status.code === Code.INTERNAL ? "error" : CALLER_MISTAKES.has(status.code) ? "debug" : "warn";
      const code = CODE_NAMES[status.code] ?? String(status.code);
      ctx.log[level]({ code, detail: status.message }, "call failed");
      o.onError?.(method.name, code);
      return status;
    },
    close: entry.close,
  };
}

/** A stream the server ended (shutdown, slow consumer) reports why, not the error its end caused. */
export function abortReasonOr(ctx: HandlerContext, err: unknown): unknown {
  const reason: unknown = ctx.signal.reason;
  return ctx.signal.aborted && reason instanceof DomainError ? reason : err;
}
