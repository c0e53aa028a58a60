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

/**
 * Handlers for every method of `service` that wait for `ready` and then call the real handler.
 * If `ready` rejects, every call fails with that error.
 */
export function deferredHandlers<S extends DescService>(service: S, ready: Promise<ServiceHandlers<S>>): ServiceHandlers<S> {
  // A rejection nobody waits for yet must not count as unhandled: calls see it when they come.
  ready.catch(() => undefined);
  const handler = async (name: string, ctx: HandlerContext): Promise<AnyHandler> => {
    const handlers = (await whenReady(ready, ctx.signal)) as unknown as Record<string, AnyHandler>;
    return handlers[name] as AnyHandler;
  };
  const out: Record<string, AnyHandler> = {};
  for (const method of service.methods) {
    const name = method.localName;
    out[name] =
      method.methodKind === "unary"
        ? async (req, ctx) => (await handler(name, ctx))(req, ctx)
        : async function* (req, ctx) {
            yield* (await handler(name, ctx))(req, ctx) as AsyncIterable<unknown>;
          };
  }
  return out as ServiceHandlers<S>;
}
