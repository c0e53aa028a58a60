// How the HTTP port's fallback answers for the web console (server/src/console/serve-console.ts):
// its files with their types and security headers, 404 elsewhere, and a failed build answered 500
// and tried again on the next request. Issue 16.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { OutgoingHttpHeaders } from "node:http";
import { createLogger } from "../../server/src/logger.js";
import { consoleFallback, consoleHandler, type ResponseLike } from "../../server/src/console/serve-console.js";
import type { ConsoleAssets } from "../../server/src/console/console-bundle.js";

const log = createLogger("fatal", new Writable({ write: (_c, _e, done) => done() }));
const page = { body: new TextEncoder().encode("<html>"), contentType: "text/html; charset=utf-8" };
const ASSETS: ConsoleAssets = new Map([
  ["/", page],
  ["/index.html", page],
  ["/console.js", { body: new TextEncoder().encode("export {}"), contentType: "text/javascript; charset=utf-8" }],
]);

/** A response that records what it was sent; `done` settles when it ended. */
function response() {
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const out = { status: 0, headers: {} as OutgoingHttpHeaders, body: undefined as Uint8Array | string | undefined, done };
  const res: ResponseLike = {
    writeHead: (status, headers) => ((out.status = status), (out.headers = headers)),
    end: (body) => ((out.body = body), ended()),
  };
  return { res, out };
}

describe("consoleHandler()", () => {
  it("serves the page at / with its type and a content security policy", async () => {
    const handle = consoleHandler(log, async () => ASSETS);
    const { res, out } = response();
    assert.equal(handle({ url: "/?x=1", method: "GET" }, res), true);
    await out.done;
    assert.equal(out.status, 200);
    assert.equal(out.headers["content-type"], "text/html; charset=utf-8");
    assert.match(String(out.headers["content-security-policy"]), /default-src 'none'/);
    assert.equal(out.headers["content-length"], page.body.byteLength);
  });

  it("answers HEAD without a body, and leaves other paths and methods to the caller", async () => {
    const handle = consoleHandler(log, async () => ASSETS);
    const { res, out } = response();
    assert.equal(handle({ url: "/console.js", method: "HEAD" }, res), true);
    await out.done;
    assert.equal(out.status, 200);
    assert.equal(out.body, undefined);
    assert.equal(handle({ url: "/qingyu.broker.v1.EventBrokerService/GetEvent", method: "POST" }, response().res), false);
    assert.equal(handle({ url: "/", method: "POST" }, response().res), false);
  });

  it("answers 500 when the bundle cannot be made, and tries again on the next request", async () => {
    let calls = 0;
    const handle = consoleHandler(log, async () => {
      if (++calls === 1) throw new Error("esbuild failed");
      return ASSETS;
    });
    const first = response();
    handle({ url: "/", method: "GET" }, first.res);
    await first.out.done;
    assert.equal(first.out.status, 500);
    const second = response();
    handle({ url: "/", method: "GET" }, second.res);
    await second.out.done;
    assert.equal(second.out.status, 200);
    assert.equal(calls, 2);
  });
});

describe("consoleFallback()", () => {
  it("answers 404 for a path that is no console file", async () => {
    const { res, out } = response();
    consoleFallback(log)({ url: "/nope", method: "GET" }, res);
    await out.done;
    assert.equal(out.status, 404);
  });
});
