// The one adapter between protobuf-es and grpc-js: it turns a generated GenService into a grpc-js
// ServiceDefinition whose (de)serialisers are protobuf-es's toBinary/fromBinary. Server and SDK both
// use it; no other file touches serialisers.
import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethod, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** @internal Marks a request the server could not decode; the server answers INVALID_ARGUMENT. */
export class DecodeFailure {
  constructor(
    readonly method: string,
    readonly cause: unknown,
  ) {}
}

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * Serialises a message (or its init shape). A `Uint8Array` passes through unchanged: it is a message
 * encoded once already, e.g. an event fanned out to many subscribers.
 */
function serializer<D extends DescMessage>(schema: D): (value: MessageInitShape<D> | Uint8Array) => Buffer {
  return (value) => {
    if (value instanceof Uint8Array) return toBuffer(value);
    return toBuffer(toBinary(schema, isMessage(value, schema) ? value : create(schema, value)));
  };
}

function deserializer<D extends DescMessage>(schema: D) {
  return (bytes: Buffer) => fromBinary(schema, bytes);
}

/**
 * A deserialiser that never throws: grpc-js would answer a throwing one with INTERNAL, while a
 * request that cannot be decoded is the client's fault (INVALID_ARGUMENT). The handler binding
 * checks for {@link DecodeFailure}.
 */
function lenientDeserializer<D extends DescMessage>(method: DescMethod, schema: D, keepRaw: ReadonlySet<string>) {
  const rawFields = schema.fields.filter((f) => f.message !== undefined && keepRaw.has(f.message.typeName));
  return (bytes: Buffer) => {
    try {
      const message = fromBinary(schema, bytes);
      if (rawFields.length > 0) captureRaw(message as unknown as Record<string, unknown>, rawFields, bytes);
      return message;
    } catch (cause) {
      return new DecodeFailure(method.name, cause);
    }
  };
}

/**
 * Where a decoded sub-message keeps the bytes it arrived as: a non-enumerable property of the
 * message itself, not a WeakMap. V8's young-generation GC keeps the keys and values of a WeakMap
 * alive until the next full GC, so one entry per request made every request's objects (the call,
 * its HTTP/2 stream) outlive their call and be copied and promoted (BENCHMARKS.md, issue 18).
 */
const RAW_BYTES = Symbol("qingyu.rawBytes");

type WithRawBytes = { [RAW_BYTES]?: Uint8Array | undefined };

/**
 * @internal The bytes a sub-message arrived as, when the server kept them (see `keepRawOf`). They are a
 * view into the request frame: copy them before keeping them beyond the call.
 */
export function rawBytesOf(message: object): Uint8Array | undefined {
  return (message as WithRawBytes)[RAW_BYTES];
}

function setRawBytes(message: object, bytes: Uint8Array | undefined): void {
  if (RAW_BYTES in message) (message as WithRawBytes)[RAW_BYTES] = bytes;
  else if (bytes !== undefined) Object.defineProperty(message, RAW_BYTES, { value: bytes, writable: true, configurable: true });
}

// Records the encoded form of top-level message fields, so the broker can store an event exactly as
// the producer encoded it instead of paying for a re-encode. A singular field that occurs twice on
// the wire is a protobuf merge of both occurrences, which no single slice represents: not recorded.
function captureRaw(message: Record<string, unknown>, fields: readonly DescMessage["fields"][number][], bytes: Uint8Array): void {
  const seen = new Map<number, number>();
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    const field = fields.find((f) => f.number === no);
    if (field === undefined || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, no);
      continue;
    }
    const slice = reader.bytes();
    const n = seen.get(no) ?? 0;
    seen.set(no, n + 1);
    const value = message[field.localName];
    const target = field.fieldKind === "list" ? (value as object[])[n] : n === 0 ? value : undefined;
    if (target && typeof target === "object") setRawBytes(target, slice);
    else if (field.fieldKind !== "list" && typeof value === "object" && value !== null) setRawBytes(value, undefined);
  }
}

/** The gRPC path of a method: `/qingyu.broker.v1.EventBrokerService/Publish`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** Options of {@link grpcServiceDefinition}. */
export interface ServiceDefinitionOptions {
  /** Server side: decode failures become {@link DecodeFailure} values instead of exceptions. */
  lenientRequests?: boolean;
  /** Server side: message types whose encoded bytes are kept for {@link rawBytesOf} (top-level fields). */
  keepRawOf?: readonly DescMessage[];
}

/** @internal A grpc-js service definition for a protobuf-es service, keyed by method localName. */
export function grpcServiceDefinition(service: DescService, options: ServiceDefinitionOptions = {}): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const keepRaw = new Set((options.keepRawOf ?? []).map((m) => m.typeName));
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      originalName: method.localName,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input) as (v: unknown) => Buffer,
      requestDeserialize: options.lenientRequests ? lenientDeserializer(method, method.input, keepRaw) : deserializer(method.input),
      responseSerialize: serializer(method.output) as (v: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}
