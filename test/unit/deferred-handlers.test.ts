import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { EventBrokerService } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { deferredHandlers } from "../../server/src/services/deferred.js";
import { openAccess } from "../../server/src/auth/gate.js";
import type { HandlerContext } from "../../server/src/services/handler-context.js";

type Loose = Record<string, (req: unknown, ctx: HandlerContext) => unknown>;

function context(signal = new AbortController().signal): HandlerContext {
  return { log: pino({ level: "silent" }), signal, deadline: undefined, peer: "test", caller: "test", access: openAccess("Publish"), end: () => undefined };
}

function ready<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe("deferred handlers", () => {
  it("a unary call made before the service is ready waits for it, then one made after goes straight through", async () => {
    const r = ready<Loose>();
    const h = deferredHandlers(EventBrokerService, r.promise as never) as unknown as Loose;
    const early = h["publish"]?.({ n: 1 }, context()) as Promise<unknown>;
    r.resolve({ publish: async (req: unknown) => ({ echoed: req }) });
    assert.deepEqual(await early, { echoed: { n: 1 } });
    assert.deepEqual(await (h["publish"]?.({ n: 2 }, context()) as Promise<unknown>), { echoed: { n: 2 } });
  });

  it("a handler that throws synchronously still answers with a rejected promise", async () => {
    const r = ready<Loose>();
    r.resolve({
      publish: () => {
        throw new Error("refused");
      },
    });
    const h = deferredHandlers(EventBrokerService, r.promise as never) as unknown as Loose;
    await r.promise;
    await new Promise((done) => setImmediate(done));
    const answer = h["publish"]?.({}, context());
    assert.ok(answer instanceof Promise);
    await assert.rejects(answer, /refused/);
  });

  it("a stream handler made before and after ready yields the real handler's responses", async () => {
    const r = ready<Loose>();
    const h = deferredHandlers(EventBrokerService, r.promise as never) as unknown as Loose;
    const early = h["subscribe"]?.({}, context()) as AsyncIterable<unknown>;
    r.resolve({
      subscribe: async function* () {
        yield 1;
        yield 2;
      },
    });
    const collect = async (it: AsyncIterable<unknown>) => {
      const out: unknown[] = [];
      for await (const x of it) out.push(x);
      return out;
    };
    assert.deepEqual(await collect(early), [1, 2]);
    assert.deepEqual(await collect(h["subscribe"]?.({}, context()) as AsyncIterable<unknown>), [1, 2]);
  });

  it("a call waiting for a service that never becomes ready ends with its own abort reason; a failed start fails every call", async () => {
    const r = ready<Loose>();
    const h = deferredHandlers(EventBrokerService, r.promise as never) as unknown as Loose;
    const ac = new AbortController();
    const waiting = h["publish"]?.({}, context(ac.signal)) as Promise<unknown>;
    ac.abort(new Error("deadline"));
    await assert.rejects(waiting, /deadline/);
    r.reject(new Error("store did not open"));
    await assert.rejects(h["publish"]?.({}, context()) as Promise<unknown>, /store did not open/);
  });
});
