// The access policy file: validation that names the place, and what the compiled rights allow.
// Issue 14.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compilePolicy, loadPolicyFile, PolicyError } from "../../server/src/auth/policy.js";
import { Access } from "../../server/src/auth/access.js";
import { Authenticator, tokenHash } from "../../server/src/auth/authenticate.js";
import { DomainError } from "../../server/src/errors.js";
import { ErrorReason } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { demoToken, EXAMPLE_POLICY, PRINCIPALS } from "../helpers/auth.js";

const base = (principal: object) => ({ principals: { svc: principal } });

function rejects(doc: unknown, place: RegExp): void {
  assert.throws(() => compilePolicy(doc, "."), (e: unknown) => e instanceof PolicyError && place.test(e.message), String(place));
}

describe("compilePolicy()", () => {
  it("names the place of each mistake", () => {
    rejects({}, /^principals: must name at least one principal/);
    rejects({ principals: { svc: {} }, extra: 1 }, /^\(top\)\.extra: unknown key/);
    rejects(base({ publish: { types: ["withdrawl.*"], sources: ["svc"] } }), /^principals\.svc\.publish\.types\[0\]: 'withdrawl\.\*' is not an event type/);
    rejects(base({ read: { domains: ["finanse"] } }), /^principals\.svc\.read\.domains\[0\]: 'finanse' is not a domain/);
    rejects(base({ publish: { domains: ["finance"] } }), /^principals\.svc\.publish\.sources: is required/);
    rejects(base({ tokens: ["secret"] }), /^principals\.svc\.tokens\[0\]: 'secret' must be 'sha256:'/);
    rejects(base({ roles: ["admin"] }), /^principals\.svc\.roles\[0\]: 'admin' is not a role/);
    rejects(base({ groups: { consume: ["a*b*"] } }), /^principals\.svc\.groups\.consume\[0\]/);
    rejects({ ...base({}), jwt: { jwks_file: "/nonexistent.json", issuer: "i", audience: "a" } }, /^jwt\.jwks_file: cannot read/);
    rejects({ ...base({}), open: { health: "yes" } }, /^open\.health: must be true or false/);
  });

  it("prefixes the file name when loading one", () => {
    assert.throws(() => loadPolicyFile("/nonexistent/policy.yaml"), (e: unknown) => e instanceof PolicyError && e.message.startsWith("/nonexistent/policy.yaml: cannot be read"));
  });

  it("loads the example policy with every platform principal", () => {
    const policy = loadPolicyFile(EXAMPLE_POLICY);
    assert.deepEqual([...policy.rights.keys()].sort(), [...PRINCIPALS].sort());
    assert.equal(policy.open.health, true);
  });
});

describe("Access", () => {
  const policy = loadPolicyFile(EXAMPLE_POLICY);
  const access = (name: string) => new Access({ name, via: "token" }, policy.rights.get(name) as never, "Test/Method", undefined);
  const deniedRight = (f: () => void): string => {
    try {
      f();
      return "allowed";
    } catch (e) {
      assert.ok(e instanceof DomainError && e.reason === ErrorReason.PERMISSION_DENIED);
      return e.metadata["right"] ?? "";
    }
  };

  it("binds what finance-svc may say to finance-svc alone", () => {
    assert.equal(deniedRight(() => access("finance-svc").publish("withdrawal.approved", "finance-svc")), "allowed");
    assert.equal(deniedRight(() => access("bookstore-svc").publish("withdrawal.approved", "bookstore-svc")), "publish");
    assert.equal(deniedRight(() => access("bookstore-svc").publish("book.purchased", "finance-svc")), "source");
    assert.equal(deniedRight(() => access("operator").publish("config.changed", "operator")), "publish");
  });

  it("merges a role's rights into the principal's", () => {
    assert.equal(access("social-svc").mayRead("user.registered"), true);
    assert.equal(access("analytics").mayRead("user.registered"), false);
  });

  it("refuses a read of every type to a principal with fewer rights", () => {
    assert.equal(deniedRight(() => access("analytics").read(undefined)), "read");
    assert.equal(deniedRight(() => access("operator").read(undefined)), "allowed");
    assert.equal(deniedRight(() => access("analytics").read([])), "allowed");
  });
});

describe("Authenticator", () => {
  const auth = new Authenticator(loadPolicyFile(EXAMPLE_POLICY));

  it("knows a static token by its hash", async () => {
    assert.deepEqual(await auth.authenticate({ authorization: `Bearer ${demoToken("analytics")}`, certificateNames: [] }), { name: "analytics", via: "token" });
    assert.equal(tokenHash("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("refuses a malformed header, an unknown token and no credentials, and never falls back from a bad token to the certificate", async () => {
    for (const authorization of ["Basic abc", "Bearer nope", undefined]) {
      await assert.rejects(auth.authenticate({ authorization, certificateNames: [] }), (e: unknown) => e instanceof DomainError && e.reason === ErrorReason.UNAUTHENTICATED);
    }
    await assert.rejects(auth.authenticate({ authorization: "Bearer nope", certificateNames: ["finance-svc.qingyu.internal"] }), DomainError);
  });

  it("maps certificate names (CN or SAN) to principals", async () => {
    assert.deepEqual(await auth.authenticate({ authorization: undefined, certificateNames: ["x", "ops.qingyu.internal"] }), { name: "operator", via: "certificate" });
    assert.deepEqual(await auth.authenticate({ authorization: undefined, certificateNames: ["finance-svc"] }), { name: "finance-svc", via: "certificate" });
  });
});
