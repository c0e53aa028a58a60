// Handlers that exist before what serves them is ready: the port is bound first (a port in use
// fails start-up before anything is opened), and consumer groups resume while the broker already
// serves. A call that arrives meanwhile waits for its service, within its own deadline, instead
// of being answered UNIMPLEMENTED or NOT_FOUND.
import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceHandlers } from "./handler-context.js";

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;

/** Resolves with `ready`, or rejects with the call's abort reason (cancelled, deadline, shutdown). */
function whenReady<T>(ready: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    ready.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A unary handler's answer as a promise, a synchronous throw included. */
function settle(h: AnyHandler, req: unknown, ctx: HandlerContext): Promise<unknown> {
  try {
    return Promise.resolve(h(req, ctx));
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

async function* waitThenStream(handler: Promise<AnyHandler>, req: unknown, ctx: HandlerContext): AsyncIterable<unknown> {
  yield* (await handler)(req, ctx) as AsyncIterable<unknown>;
}

/**
 * Handlers for every method of `service` that wait for `ready` and then call the real handler.
 * If `ready` rejects, every call fails with that error.
 */
export function deferredHandlers<S extends DescService>(service: S, ready: Promise<ServiceHandlers<S>>): ServiceHandlers<S> {
  // Once ready, calls go straight to the real handlers: waiting costs every call a promise and an
  // abort listener, which a publish (one call per event) cannot afford.
  let handlers: Record<string, AnyHandler> | undefined;
  // A rejection nobody waits for yet must not count as unhandled: calls see it when they come.
  ready.then((h) => void (handlers = h as unknown as Record<string, AnyHandler>)).catch(() => undefined);
  const handler = async (name: string, ctx: HandlerContext): Promise<AnyHandler> => {
    const h = (await whenReady(ready, ctx.signal)) as unknown as Record<string, AnyHandler>;
    return h[name] as AnyHandler;
  };
  const out: Record<string, AnyHandler> = {};
  for (const method of service.methods) {
    const name = method.localName;
    out[name] =
      method.methodKind === "unary"
        ? (req, ctx) => (handlers ? settle(handlers[name] as AnyHandler, req, ctx) : handler(name, ctx).then((h) => h(req, ctx)))
        : (req, ctx) => (handlers ? (handlers[name] as AnyHandler)(req, ctx) : waitThenStream(handler(name, ctx), req, ctx));
  }
  return out as ServiceHandlers<S>;
}
