// Typed calls over a grpc-js channel, with deadlines, AbortSignal and BrokerError for every failure.
import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { BrokerError } from "../errors.js";
import { grpcServiceDefinition, methodPath } from "../grpc/service-definition.js";

/** Per-call options. */
export interface CallOptions {
  /** Absolute deadline, or milliseconds from now. */
  deadline?: Date | number;
  /** Cancels the call (the promise rejects, the iterator throws, with CANCELLED). */
  signal?: AbortSignal;
}

type Def = grpc.MethodDefinition<unknown, unknown>;

/** The caller's stack, appended to errors so they point at the call site, not at grpc-js internals. */
function withCallerStack(err: BrokerError, callerStack: string | undefined): BrokerError {
  if (callerStack) err.stack = `${err.stack ?? ""}\n    --- called from ---\n${callerStack.split("\n").slice(2).join("\n")}`;
  return err;
}

function toDeadline(deadline: Date | number | undefined, fallbackMs: number | undefined): Date | undefined {
  if (deadline instanceof Date) return deadline;
  const ms = deadline ?? fallbackMs;
  return ms === undefined ? undefined : new Date(Date.now() + ms);
}

/** @internal The SDK's channel: one grpc-js client and the method definitions of a service. */
export class Rpc {
  private readonly defs: Record<string, Def>;

  constructor(
    readonly channel: grpc.Client,
    methods: readonly DescMethod[],
    private readonly defaultDeadlineMs: number | undefined,
  ) {
    const defs: Record<string, Def> = {};
    for (const service of new Set(methods.map((m) => m.parent))) {
      for (const d of Object.values(grpcServiceDefinition(service))) defs[d.path] = d as Def;
    }
    this.defs = defs;
  }

  private def(method: DescMethod): Def {
    const d = this.defs[methodPath(method)];
    if (!d) throw new Error(`unknown method ${method.name}`);
    return d;
  }

  private callOptions(opts: CallOptions, stream: boolean): grpc.CallOptions {
    // Streams have no default deadline: a replay or a subscription may run for a long time.
    const deadline = toDeadline(opts.deadline, stream ? undefined : this.defaultDeadlineMs);
    return deadline ? { deadline } : {};
  }

  unary<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }, req: MessageInitShape<I>, opts: CallOptions = {}): Promise<MessageShape<O>> {
    const callerStack = new Error().stack;
    const d = this.def(method);
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(withCallerStack(new BrokerError(grpc.status.CANCELLED, "aborted before the call"), callerStack));
      const call = this.channel.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, req, new grpc.Metadata(), this.callOptions(opts, false), (err, res) => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (err) reject(withCallerStack(BrokerError.from(err), callerStack));
        else resolve(res as MessageShape<O>);
      });
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async *serverStream<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }, req: MessageInitShape<I>, opts: CallOptions = {}): AsyncIterable<MessageShape<O>> {
    const callerStack = new Error().stack;
    const d = this.def(method);
    if (opts.signal?.aborted) throw withCallerStack(new BrokerError(grpc.status.CANCELLED, "aborted before the call"), callerStack);
    const call = this.channel.makeServerStreamRequest(d.path, d.requestSerialize, d.responseDeserialize, req, new grpc.Metadata(), this.callOptions(opts, true));
    const onAbort = () => call.cancel();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const res of call) yield res as MessageShape<O>;
    } catch (err) {
      throw withCallerStack(BrokerError.from(err), callerStack);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      // Leaving the loop early (break, return) must end the call, not leak it.
      call.cancel();
    }
  }

  /** Opens a bidirectional stream; the caller writes with back-pressure and reads responses. */
  bidi<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }, opts: CallOptions = {}): grpc.ClientDuplexStream<MessageInitShape<I>, MessageShape<O>> {
    const d = this.def(method);
    const call = this.channel.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize, new grpc.Metadata(), this.callOptions(opts, true));
    if (opts.signal) {
      const onAbort = () => call.cancel();
      opts.signal.addEventListener("abort", onAbort, { once: true });
      call.on("close", () => opts.signal?.removeEventListener("abort", onAbort));
    }
    return call as grpc.ClientDuplexStream<MessageInitShape<I>, MessageShape<O>>;
  }
}
