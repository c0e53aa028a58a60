import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatTraceparent, linksFromTraceparents, parseTraceparent } from "../../sdk/src/trace/trace-context.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("W3C traceparent", () => {
  it("parses a traceparent into a remote span context and formats it back", () => {
    const sc = parseTraceparent(TP);
    assert.deepEqual(sc, { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1, isRemote: true });
    assert.equal(formatTraceparent(sc!), TP);
    assert.equal(formatTraceparent({ ...sc!, traceFlags: 0 }), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  });

  it("refuses empty, malformed, all-zero and other-version values", () => {
    for (const bad of ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TP.toUpperCase()]) {
      assert.equal(parseTraceparent(bad), undefined, bad);
    }
    assert.equal(formatTraceparent({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 }), "");
  });

  it("links to distinct valid traceparents, at most the given number", () => {
    const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert.deepEqual(linksFromTraceparents([TP, "", TP, "bad", other]).map((l) => l.context.spanId), ["00f067aa0ba902b7", "b7ad6b7169203331"]);
    assert.equal(linksFromTraceparents([TP, other], 1).length, 1);
  });
});
