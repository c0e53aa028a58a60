// Every principal of deploy/auth-policy.example.yaml (and a caller without credentials) against
// every RPC of both services: the status each gets. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { BrokerError, Code, newEvent, TargetType, type BrokerClient } from "../../sdk/src/index.js";
import { create } from "@bufbuild/protobuf";
import { ConsumeRequestSchema, ConsumerGroupService } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { Health } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../../sdk/src/grpc/service-definition.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { clientWithHeaders, demoToken, EXAMPLE_POLICY, PRINCIPALS } from "../helpers/auth.js";

type Who = (typeof PRINCIPALS)[number] | "anonymous";

/** The code of a call's outcome, by name. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "OK";
  } catch (err) {
    return Code[BrokerError.from(err).code] ?? String(err);
  }
}

/** A raw client, for what the SDK does not wrap the way the matrix needs (health, one Consume join). */
const rawClient = (address: string, token: string | undefined) => clientWithHeaders(address, token ? { authorization: `Bearer ${token}` } : {});

function health(address: string): Promise<void> {
  const d = grpcServiceDefinition(Health)["check"] as grpc.MethodDefinition<unknown, unknown>;
  const c = rawClient(address, undefined);
  return new Promise<void>((resolve, reject) =>
    c.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, { service: "" }, (err) => (c.close(), err ? reject(err) : resolve())),
  );
}

/** Joins a group and leaves at the `joined` answer: OK, or the status that refused the join. */
function joinGroup(address: string, token: string | undefined, group: string): Promise<void> {
  const d = grpcServiceDefinition(ConsumerGroupService)["consume"] as grpc.MethodDefinition<unknown, unknown>;
  const c = rawClient(address, token);
  const call = c.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
  return new Promise<void>((resolve, reject) => {
    call.on("data", () => call.cancel());
    call.on("error", (err: grpc.ServiceError) => (c.close(), err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
    call.on("status", (s: grpc.StatusObject) => s.code === grpc.status.OK && (c.close(), resolve()));
    call.write(create(ConsumeRequestSchema, { kind: { case: "join", value: { group, maxInFlight: 1 } } }));
  });
}

interface Row {
  rpc: string;
  /** Principals that succeed; every other authenticated one gets `denied`. */
  allowed: readonly Who[];
  denied?: string;
  run: (c: BrokerClient, who: Who) => Promise<unknown>;
}

const withdrawal = () => ({ ...sampleEvent("withdrawal.approved"), source: "finance-svc" });
const like = () => newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc" });
const purchase = () => ({ ...sampleEvent("book.purchased"), source: "bookstore-svc" });

describe("access policy: principal × RPC", () => {
  let t: TestBroker;
  const clients = new Map<Who, BrokerClient>();
  let withdrawalId = "";

  before(async () => {
    t = await startTestBroker({ BROKER_AUTH_FILE: EXAMPLE_POLICY });
    for (const p of PRINCIPALS) clients.set(p, t.newClient({ credentials: demoToken(p), source: p }));
    clients.set("anonymous", t.newClient({ source: "nobody" }));
    const finance = clients.get("finance-svc") as BrokerClient;
    withdrawalId = (await finance.publish(withdrawal())).id;
    await (clients.get("operator") as BrokerClient).groups.create({ name: "finance-payouts", filter: { types: ["withdrawal.approved"] }, start: "beginning" });
  });
  after(() => t.close());

  const ROWS: Row[] = [
    { rpc: "Publish", allowed: ["finance-svc"], run: (c) => c.publish(withdrawal()) },
    { rpc: "PublishBatch", allowed: ["social-svc"], run: (c) => c.publishBatch([like()]) },
    {
      rpc: "PublishStream",
      allowed: ["bookstore-svc"],
      run: async (c) => {
        const p = c.publisher();
        try {
          await p.publish(purchase());
        } finally {
          await p.close();
        }
      },
    },
    { rpc: "GetEvent", allowed: ["finance-svc", "operator"], denied: "NOT_FOUND", run: (c) => c.getEvent(withdrawalId) },
    { rpc: "QueryEvents", allowed: ["finance-svc", "operator"], run: (c) => c.queryPage({ domains: ["finance"] }) },
    { rpc: "CountEvents", allowed: ["social-svc", "analytics", "operator"], run: (c) => c.countEvents({ domains: ["social"] }) },
    {
      rpc: "Replay",
      allowed: ["bookstore-svc", "finance-svc", "analytics", "operator"],
      run: async (c) => {
        for await (const _ of c.replay({ domains: ["bookstore"] })) void _;
      },
    },
    { rpc: "ListEventTypes", allowed: PRINCIPALS, run: (c) => c.listEventTypes() },
    {
      rpc: "Subscribe",
      allowed: ["social-svc", "bookstore-svc", "finance-svc", "operator"],
      run: async (c) => {
        const stop = new AbortController();
        for await (const _ of c.subscribe({ domains: ["user"] }, { from: "beginning", signal: stop.signal, onCaughtUp: () => stop.abort(), reconnect: false })) void _;
      },
    },
    { rpc: "CreateGroup", allowed: ["operator"], run: (c, who) => c.groups.create({ name: `finance-new-${who}`, filter: { domains: ["finance"] } }) },
    { rpc: "UpdateGroup", allowed: ["operator"], run: (c) => c.groups.update({ name: "finance-payouts", filter: { types: ["withdrawal.approved"] }, ackDeadlineMs: 20_000 }) },
    { rpc: "GetGroup", allowed: ["finance-svc", "operator"], run: (c) => c.groups.get("finance-payouts") },
    { rpc: "ListGroups", allowed: PRINCIPALS, run: (c) => c.groups.list() },
    { rpc: "Consume", allowed: ["finance-svc", "operator"], run: (_c, who) => joinGroup(t.address, who === "anonymous" ? undefined : demoToken(who), "finance-payouts") },
    {
      rpc: "ListDeadLetters",
      allowed: ["operator"],
      run: async (c) => {
        for await (const _ of c.groups.deadLetters("finance-payouts")) void _;
      },
    },
    { rpc: "RedriveDeadLetters", allowed: ["operator"], run: (c) => c.groups.redrive("finance-payouts", "all") },
    { rpc: "PurgeDeadLetters", allowed: ["operator"], run: (c) => c.groups.purge("finance-payouts", "all") },
    { rpc: "DeleteGroup", allowed: ["operator"], run: (c, who) => c.groups.delete(`finance-new-${who}`) },
  ];

  for (const row of ROWS) {
    it(`${row.rpc}: ${row.allowed.join(", ")} allowed; others ${row.denied ?? "PERMISSION_DENIED"}; no credentials UNAUTHENTICATED`, async () => {
      const got: Record<string, string> = {};
      const want: Record<string, string> = {};
      for (const who of [...PRINCIPALS, "anonymous"] as const) {
        got[who] = await outcome(() => row.run(clients.get(who) as BrokerClient, who));
        want[who] = who === "anonymous" ? "UNAUTHENTICATED" : row.allowed.includes(who) ? "OK" : (row.denied ?? "PERMISSION_DENIED");
      }
      assert.deepEqual(got, want);
    });
  }

  it("Health/Check stays open without credentials", async () => {
    assert.equal(await outcome(() => health(t.address)), "OK");
  });

  it("ListGroups shows each principal only the groups it may consume or administer", async () => {
    assert.deepEqual((await (clients.get("finance-svc") as BrokerClient).groups.list()).map((g) => g.name), ["finance-payouts"]);
    assert.deepEqual(await (clients.get("analytics") as BrokerClient).groups.list(), []);
  });
});
