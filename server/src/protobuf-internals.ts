// The protobuf-es internals the broker reaches into, to decode requests faster. @bufbuild/protobuf
// 2.13 (the newest that declares Node 20) decodes about twice as slowly as 2.17, which the broker
// used before and which declares Node >= 22; decoding is the largest part of a publish's CPU. Two
// patches, applied only to the version they were written against (`startBroker` logs when off):
// - field lookups: `ReflectMessageImpl.findNumber` builds a Map of the message's fields by number
//   for every message it decodes (a PublishRequest and its event, payload and timestamp: four
//   Maps per event). One Map per message type instead (descriptors are immutable), same fields.
// - short ASCII strings (ids, types, sources: most fields of an event) are read without a
//   TextDecoder call and a view each, as 2.14 and later do; any other string goes to the decoder
//   as before, so the text and strict UTF-8 checking are unchanged.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { reflect } from "@bufbuild/protobuf/reflect";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader } from "@bufbuild/protobuf/wire";
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

/** Strings up to this length are tried as ASCII first (2.17's bound). */
const ASCII_MAX_LENGTH = 32;

interface ReaderInternals {
  buf: Uint8Array;
  pos: number;
  uint32(): number;
  assertBounds(): void;
  decodeUtf8(bytes: Uint8Array, strict?: boolean): string;
}

function readString(this: ReaderInternals, strict?: boolean): string {
  const len = this.uint32();
  const start = this.pos;
  this.pos += len;
  this.assertBounds();
  const end = start + len;
  if (len <= ASCII_MAX_LENGTH) {
    let text = "";
    for (let i = start; i < end; i++) {
      const byte = this.buf[i] as number;
      if (byte > 0x7f) return this.decodeUtf8(this.buf.subarray(start, end), strict);
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return this.decodeUtf8(this.buf.subarray(start, end), strict);
}

/**
 * Applies both patches (see the top of this file). Idempotent, once per process. Returns whether
 * they are on.
 */
export function speedUpDecoding(): boolean {
  if (!PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED)) return false;
  const proto = Object.getPrototypeOf(reflect(EmptySchema)) as Partial<ReflectInternals>;
  const reader = BinaryReader.prototype as unknown as Partial<ReaderInternals> & { string: unknown };
  if (proto.findNumber === findNumber && reader.string === readString) return true;
  if (typeof proto.findNumber !== "function" || typeof reader.string !== "function" || typeof reader.assertBounds !== "function") return false;
  proto.findNumber = findNumber;
  reader.string = readString;
  return true;
}
