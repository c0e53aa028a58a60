// The broker's transport-free status codes are gRPC's and Connect's numbers: a call fails with the
// same code whichever port it came through.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Code as ConnectCode } from "@connectrpc/connect";
import { Code, CODE_NAMES, REASON_TO_CODE } from "../../server/src/status.js";

describe("status codes", () => {
  it("number every code as grpc-js does, and name it as metrics label it", () => {
    for (const [name, code] of Object.entries(Code)) {
      assert.equal(GrpcStatus[name as keyof typeof GrpcStatus], code, name);
      assert.equal(CODE_NAMES[code], name);
    }
    assert.equal(Object.keys(Code).length, Object.keys(GrpcStatus).filter((k) => Number.isNaN(Number(k))).length);
  });

  it("number every code as Connect does", () => {
    const connectName = (name: string) => name.toLowerCase().replace(/_(.)/g, (_, c: string) => c.toUpperCase()).replace(/^./, (c) => c.toUpperCase());
    for (const [name, code] of Object.entries(Code)) {
      if (code === Code.OK) continue;
      const spelled = name === "CANCELLED" ? "Canceled" : connectName(name);
      assert.equal(ConnectCode[spelled as keyof typeof ConnectCode], code, name);
    }
  });

  it("gives every error reason a code", () => {
    for (const code of Object.values(REASON_TO_CODE)) assert.ok(CODE_NAMES[code] !== undefined);
  });
});
