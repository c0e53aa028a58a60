// Issue 19, item 1: ids are planned across the whole append, so one MongoDB commit never inserts an
// id twice (a duplicate key aborts a transaction without a transient label).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newEventId } from "../../sdk/src/index.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import type { NewEvent } from "../../server/src/store/event-store.js";
import { planAppend } from "../../server/src/store/mongo/mongo-plan.js";
import { sampleEvent } from "../helpers/sample-events.js";

function ev(id = newEventId(), subject = "book/1"): NewEvent {
  const e = sampleEvent("like.added");
  e.id = id;
  e.subject = subject;
  return prepareEvent(e, { maxEventBytes: 1 << 20 });
}

interface Stored {
  core: Uint8Array;
  position: string;
}
const none = new Map<string, Stored>();
const core = (s: Stored) => s.core;

describe("planAppend()", () => {
  it("inserts each new event once, in order, each with its own fresh index", () => {
    const [a, b, c] = [ev(), ev(), ev()];
    const plan = planAppend([[a, b], [c]], none, core);
    assert.deepEqual(plan.fresh, [a, b, c]);
    assert.deepEqual(plan.groups, [
      { ok: true, sources: [{ fresh: 0 }, { fresh: 1 }] },
      { ok: true, sources: [{ fresh: 2 }] },
    ]);
  });

  it("makes an id with the same content in a later group of the append a duplicate of the first", () => {
    const a = ev();
    const retry = { ...a, bytes: new Uint8Array(a.bytes) };
    const other = ev();
    const plan = planAppend([[a], [other, retry]], none, core);
    assert.deepEqual(plan.fresh, [a, other]);
    assert.deepEqual(plan.groups[1], { ok: true, sources: [{ fresh: 1 }, { copyOf: 0 }] });
  });

  it("refuses only the later group when an id comes back with another content, pointing at the first", () => {
    const a = ev();
    const clash = ev(a.id, "book/2");
    const bystander = ev();
    const plan = planAppend([[a], [bystander, clash], [ev()]], none, core);
    assert.deepEqual(plan.groups[1], { ok: false, index: 1, id: a.id, against: { copyOf: 0 } });
    assert.equal(plan.groups[0]?.ok, true);
    assert.equal(plan.groups[2]?.ok, true);
    assert.deepEqual(plan.fresh.map((e) => e.id), [a.id, plan.fresh[1]?.id]);
    assert.ok(!plan.fresh.includes(bystander), "nothing of a refused group is inserted");
  });

  it("does not let a refused group claim its ids: a later group inserts them", () => {
    const x = ev();
    const stored = ev();
    const existing = new Map([[stored.id, { core: ev(stored.id, "book/other").bytes, position: "p" }]]);
    const plan = planAppend([[x, stored], [x]], existing, core);
    assert.equal(plan.groups[0]?.ok, false);
    assert.deepEqual(plan.groups[1], { ok: true, sources: [{ fresh: 0 }] });
    assert.deepEqual(plan.fresh, [x]);
  });

  it("resolves stored ids against the stored content", () => {
    const s = ev();
    const existing = new Map([[s.id, { core: s.bytes, position: "0000000000000007" }]]);
    const plan = planAppend([[{ ...s }]], existing, core);
    assert.deepEqual(plan.groups[0], { ok: true, sources: [{ stored: existing.get(s.id) }] });
    const clash = planAppend([[ev(s.id, "book/9")]], existing, core);
    assert.deepEqual(clash.groups[0], { ok: false, index: 0, id: s.id, against: { stored: existing.get(s.id) } });
  });

  it("marks a clash inside one group as such (no `against`)", () => {
    const a = ev();
    const plan = planAppend([[a, ev(a.id, "book/3")]], none, core);
    assert.deepEqual(plan.groups[0], { ok: false, index: 1, id: a.id, against: undefined });
    assert.deepEqual(plan.fresh, []);
  });
});
