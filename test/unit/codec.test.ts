import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { equals, isFieldSet } from "@bufbuild/protobuf";
import {
  EventSchema,
  eventCatalog,
  eventFromBinary,
  eventFromJson,
  eventFromJsonString,
  eventToBinary,
  eventToJson,
  eventToJsonString,
  validateEvent,
} from "../../sdk/src/index.js";
import { payloadOf, sampleEvent } from "../helpers/sample-events.js";

describe("event codec", () => {
  for (const { type, schema } of eventCatalog()) {
    it(`round-trips a fully populated '${type}' through binary and JSON`, () => {
      const event = sampleEvent(type);
      const payload = payloadOf(event);
      for (const field of schema.fields) {
        if (!field.oneof) assert.ok(isFieldSet(payload as never, field), `${type}: ${field.name} is not populated`);
      }
      assert.deepEqual(validateEvent(event), []);
      assert.ok(equals(EventSchema, eventFromBinary(eventToBinary(event)), event));
      assert.ok(equals(EventSchema, eventFromJson(eventToJson(event)), event));
      assert.ok(equals(EventSchema, eventFromJsonString(eventToJsonString(event)), event));
    });
  }

  it("names the JSON payload after the type string", () => {
    const json = eventToJson(sampleEvent("timeline_event.created")) as Record<string, unknown>;
    assert.equal(json["type"], "timeline_event.created");
    assert.ok("timelineEventCreated" in json);
  });

  it("rejects misspelt JSON fields instead of dropping them", () => {
    assert.throws(() => eventFromJson({ source: "s", likeAdded: { userID: "u1" } }));
  });

  it("rejects bytes that are not an envelope", () => {
    assert.throws(() => eventFromBinary(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])));
  });
});
