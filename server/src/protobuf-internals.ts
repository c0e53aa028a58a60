// The one protobuf-es internal the broker reaches into. @bufbuild/protobuf 2.13 (the newest that
// declares Node 20) decodes through its reflection API, and `ReflectMessageImpl.findNumber` builds
// a Map of the message's fields by number for every message it decodes: a PublishRequest and
// its event, payload and timestamp make four Maps per event, about a third of the decode's time
// and much of the broker's garbage while ingesting. The patch keeps one Map per message type
// (descriptors are immutable) and returns the same field; it is applied only to the version it was
// written against, and `startBroker` logs when it is off. (2.14 and later decode through compiled
// readers and need no patch, but declare Node >= 22.)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { reflect } from "@bufbuild/protobuf/reflect";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import type { DescField, DescMessage } from "@bufbuild/protobuf";

export const PROTOBUF_ES_TESTED = "2.13.";
/** The installed version (its package.json is not exported: found beside the entry, in dist/cjs/). */
export const PROTOBUF_ES_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", `file://${createRequire(import.meta.url).resolve("@bufbuild/protobuf")}`), "utf8")) as { version: string }
).version;

interface ReflectInternals {
  desc: DescMessage;
  findNumber(number: number): DescField | undefined;
}

const fieldsByNumber = new WeakMap<DescMessage, Map<number, DescField>>();

function findNumber(this: ReflectInternals, number: number): DescField | undefined {
  let fields = fieldsByNumber.get(this.desc);
  if (fields === undefined) {
    fields = new Map(this.desc.fields.map((f) => [f.number, f]));
    fieldsByNumber.set(this.desc, fields);
  }
  return fields.get(number);
}

/**
 * Makes protobuf-es look fields up by number through one Map per message type. Idempotent, once
 * per process. Returns whether the patch is on.
 */
export function cacheFieldLookups(): boolean {
  if (!PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED)) return false;
  const proto = Object.getPrototypeOf(reflect(EmptySchema)) as Partial<ReflectInternals>;
  if (proto.findNumber === findNumber) return true;
  if (typeof proto.findNumber !== "function") return false;
  proto.findNumber = findNumber;
  return true;
}
