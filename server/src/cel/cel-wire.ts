// Reading the few fields a `where` expression needs straight from an envelope's protobuf bytes, in
// one pass, without building messages: a stored event is ~500 bytes of which a filter reads one to
// three fields. The plan lists the fields (by number) per message; everything else is skipped by its
// length. It follows protobuf-es's decoding where it matters to a filter: the last value of a
// scalar wins, occurrences of a message merge, a oneof keeps only its last member, a map its last
// value per key. Anything it does not expect (a wire type that does not fit the field, a group, a
// truncated length, invalid UTF-8) makes it give up on the event: the caller then decodes the event
// the ordinary way, so such bytes get exactly the old treatment.
import { ScalarType, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";

/** Wire types (protobuf encoding). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** A field the plan reads: its value goes to `slot` of the event's slot array. */
export type FieldPlan =
  | { readonly t: "scalar"; readonly slot: number; readonly scalar: ScalarType; readonly strict: boolean; readonly oneof?: OneofPlan | undefined }
  | { readonly t: "message"; readonly slot: number; readonly plan: MessagePlan; readonly oneof?: OneofPlan | undefined }
  | { readonly t: "map"; readonly keys: Map<string, number>; readonly value: ScalarType; readonly strict: boolean }
  /**
   * A oneof member the expression does not read: seen to replace the member before it, and read
   * through (a message's structure, a scalar's value) as the ordinary decoder would, then dropped.
   */
  | { readonly t: "member"; readonly oneof: OneofPlan; readonly scalar: ScalarType | undefined; readonly strict: boolean };

/** The members of a oneof the plan reads; `slot` holds the number of the member last seen. */
export interface OneofPlan {
  readonly slot: number;
  readonly members: FieldPlan[];
}

export interface MessagePlan {
  readonly fields: Map<number, FieldPlan>;
  readonly oneofs: Map<DescOneof, OneofPlan>;
}

/** How a singular non-message field is read (enums as int32, as protobuf-es does). */
function scalarOf(f: DescField): ScalarType {
  return f.fieldKind === "enum" ? ScalarType.INT32 : (f.scalar ?? ScalarType.STRING);
}

/** The wire type a scalar of this type is written with. */
function wireTypeOf(s: ScalarType): number {
  switch (s) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return I32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return LEN;
    default:
      return VARINT;
  }
}

/** The fields to read from one envelope, and the slots their values land in. */
export class WirePlan {
  readonly root: MessagePlan = newMessagePlan();
  slots = 0;

  /** The plan of a singular scalar or enum field (enums read as int32, as protobuf-es does). */
  scalar(parent: MessagePlan, f: DescField): FieldPlan & { t: "scalar" } {
    const known = parent.fields.get(f.number);
    if (known?.t === "scalar") return known;
    return this.add(parent, f, { t: "scalar", slot: this.slots++, scalar: scalarOf(f), strict: f.utf8Validation, oneof: this.oneof(parent, f.oneof) });
  }

  /** The plan of a singular message field; its slot is true once the field was seen. */
  message(parent: MessagePlan, f: DescField): FieldPlan & { t: "message" } {
    const known = parent.fields.get(f.number);
    if (known?.t === "message") return known;
    return this.add(parent, f, { t: "message", slot: this.slots++, plan: newMessagePlan(), oneof: this.oneof(parent, f.oneof) });
  }

  /** The slot of one key of a map<string, scalar> field: the value, undefined when absent. */
  mapKey(parent: MessagePlan, f: DescField & { fieldKind: "map" }, key: string): number {
    let p = parent.fields.get(f.number);
    if (p?.t !== "map") p = this.add(parent, f, { t: "map", keys: new Map(), value: f.mapKind === "scalar" ? f.scalar : ScalarType.INT32, strict: f.utf8Validation });
    let slot = p.keys.get(key);
    if (slot === undefined) p.keys.set(key, (slot = this.slots++));
    return slot;
  }

  /** The slot holding which member of the oneof was seen last (undefined: none). */
  oneofSlot(parent: MessagePlan, o: DescOneof): number {
    return (this.oneof(parent, o) as OneofPlan).slot;
  }

  private oneof(parent: MessagePlan, o: DescOneof | undefined): OneofPlan | undefined {
    if (!o) return undefined;
    let p = parent.oneofs.get(o);
    if (!p) {
      parent.oneofs.set(o, (p = { slot: this.slots++, members: [] }));
      // Every member is planned, read or not: a member later on the wire replaces an earlier one
      // (protobuf-es keeps the last), so an unread member must still clear the read ones before it.
      for (const m of o.fields) if (!parent.fields.has(m.number)) this.add(parent, m, { t: "member", oneof: p, scalar: m.fieldKind === "message" ? undefined : scalarOf(m), strict: m.utf8Validation });
    }
    return p;
  }

  private add<P extends FieldPlan>(parent: MessagePlan, f: DescField, p: P): P {
    parent.fields.set(f.number, p);
    if (p.t !== "map" && p.oneof) p.oneof.members.push(p);
    return p;
  }
}

function newMessagePlan(): MessagePlan {
  return { fields: new Map(), oneofs: new Map() };
}

/** The plan of a message nothing is read from: its fields are skipped one by one. */
const UNREAD: MessagePlan = newMessagePlan();

/** Thrown (and caught by read) when the bytes are not what the plan expects. */
const GIVE_UP = new Error("unexpected bytes");
const text = getTextEncoding();

/** One pass over an envelope's bytes, filling `slots`. Reused across events (not reentrant). */
export class WireReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private view: DataView | undefined;

  constructor(
    private readonly plan: WirePlan,
    readonly slots: unknown[] = new Array<unknown>(plan.slots),
  ) {}

  /** Reads `data` into the slots; false when the bytes need the ordinary decoder. */
  read(data: Uint8Array): boolean {
    this.buf = data;
    this.pos = 0;
    this.view = undefined;
    this.slots.fill(undefined);
    try {
      this.message(this.plan.root, data.length);
      return true;
    } catch (err) {
      if (err === GIVE_UP || err instanceof RangeError) return false;
      throw err;
    }
  }

  private message(plan: MessagePlan, end: number): void {
    while (this.pos < end) {
      const tag = this.tag();
      const f = plan.fields.get(tag >>> 3);
      if (f === undefined) this.skip(tag & 7, end);
      else if (f.t === "member") this.member(f, tag & 7);
      else this.field(f, tag & 7);
    }
    if (this.pos !== end) throw GIVE_UP;
  }

  private field(f: Exclude<FieldPlan, { t: "member" }>, wireType: number): void {
    if (f.t === "map") return this.mapEntry(f, wireType);
    if (f.oneof) this.enterOneof(f.oneof, f);
    if (f.t === "scalar") {
      if (wireType !== wireTypeOf(f.scalar)) throw GIVE_UP;
      this.slots[f.slot] = this.scalar(f.scalar, f.strict);
      return;
    }
    if (wireType !== LEN) throw GIVE_UP;
    const end = this.length();
    this.slots[f.slot] = true;
    this.message(f.plan, end);
  }

  private member(f: FieldPlan & { t: "member" }, wireType: number): void {
    this.enterOneof(f.oneof, f);
    if (f.scalar !== undefined) {
      if (wireType !== wireTypeOf(f.scalar)) throw GIVE_UP;
      this.scalar(f.scalar, f.strict);
      return;
    }
    if (wireType !== LEN) throw GIVE_UP;
    this.message(UNREAD, this.length());
  }

  /** A oneof member replaces another member's value (and everything read beneath it). */
  private enterOneof(o: OneofPlan, member: FieldPlan): void {
    const last = this.slots[o.slot];
    if (last !== undefined && last !== member) for (const m of o.members) if (m !== member) this.clear(m);
    this.slots[o.slot] = member;
  }

  private clear(f: FieldPlan): void {
    if (f.t === "member") return;
    if (f.t === "map") for (const slot of f.keys.values()) this.slots[slot] = undefined;
    else this.slots[f.slot] = undefined;
    if (f.t !== "message") return;
    for (const o of f.plan.oneofs.values()) this.slots[o.slot] = undefined;
    for (const child of f.plan.fields.values()) this.clear(child);
  }

  private mapEntry(f: FieldPlan & { t: "map" }, wireType: number): void {
    if (wireType !== LEN) throw GIVE_UP;
    const end = this.length();
    let key = "";
    let value: unknown;
    while (this.pos < end) {
      const tag = this.tag();
      if (tag === ((1 << 3) | LEN)) key = this.string(true);
      else if (tag >>> 3 === 2 && (tag & 7) === wireTypeOf(f.value)) value = this.scalar(f.value, f.strict);
      else throw GIVE_UP;
    }
    if (this.pos !== end) throw GIVE_UP;
    const slot = f.keys.get(key);
    if (slot !== undefined) this.slots[slot] = value ?? zeroOf(f.value);
  }

  private scalar(s: ScalarType, strict: boolean): unknown {
    switch (s) {
      case ScalarType.STRING:
        return this.string(strict);
      case ScalarType.BOOL:
        return this.varint() !== 0;
      case ScalarType.INT32:
        return this.uint32() | 0;
      case ScalarType.UINT32:
        return this.uint32() >>> 0;
      case ScalarType.SINT32: {
        const u = this.uint32();
        return (u >>> 1) ^ -(u & 1);
      }
      case ScalarType.INT64: {
        const u = this.varint();
        return typeof u === "number" ? u : safe(BigInt.asIntN(64, u));
      }
      case ScalarType.UINT64:
        return this.varint();
      case ScalarType.SINT64: {
        const u = this.varint();
        if (typeof u === "number") return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
        return safe((u >> 1n) ^ -(u & 1n));
      }
      default:
        return this.fixed(s);
    }
  }

  private fixed(s: ScalarType): unknown {
    const at = this.pos;
    const size = s === ScalarType.FLOAT || s === ScalarType.FIXED32 || s === ScalarType.SFIXED32 ? 4 : 8;
    if (at + size > this.buf.length) throw GIVE_UP;
    this.pos += size;
    const v = (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
    switch (s) {
      case ScalarType.FLOAT:
        return v.getFloat32(at, true);
      case ScalarType.DOUBLE:
        return v.getFloat64(at, true);
      case ScalarType.FIXED32:
        return v.getUint32(at, true);
      case ScalarType.SFIXED32:
        return v.getInt32(at, true);
      case ScalarType.FIXED64:
        return safe(v.getBigUint64(at, true));
      case ScalarType.SFIXED64:
        return safe(v.getBigInt64(at, true));
      default:
        throw GIVE_UP; // bytes: not planned
    }
  }

  private string(strict: boolean): string {
    const end = this.length();
    const b = this.buf;
    let ascii = true;
    for (let i = this.pos; i < end; i++) if ((b[i] as number) > 0x7f) ascii = false;
    const start = this.pos;
    this.pos = end;
    if (ascii) {
      // Short ids and names are most of what filters read; a loop beats any call for them.
      if (end - start > 32) return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString("latin1");
      let s = "";
      for (let i = start; i < end; i++) s += String.fromCharCode(b[i] as number);
      return s;
    }
    try {
      return text.decodeUtf8(b.subarray(start, end), strict);
    } catch {
      throw GIVE_UP; // invalid UTF-8: the ordinary decoder says what happens
    }
  }

  /** A length prefix; returns where the delimited bytes end. */
  private length(): number {
    const n = this.uint32() >>> 0;
    const end = this.pos + n;
    if (end > this.buf.length) throw GIVE_UP;
    return end;
  }

  private skip(wireType: number, end: number): void {
    switch (wireType) {
      case VARINT:
        while (((this.buf[this.pos++] ?? 0) & 0x80) !== 0);
        break;
      case I64:
        this.pos += 8;
        break;
      case LEN:
        this.pos = this.length();
        break;
      case I32:
        this.pos += 4;
        break;
      default:
        throw GIVE_UP; // groups: never written by our SDK
    }
    if (this.pos > end) throw GIVE_UP;
  }

  /** A field tag, refused where protobuf-es refuses it: longer than 32 bits, or field number 0. */
  private tag(): number {
    const start = this.pos;
    const tag = this.uint32();
    const read = this.pos - start;
    if (read > 5 || (read === 5 && (this.buf[this.pos - 1] as number) > 0x0f) || tag >>> 3 === 0) throw GIVE_UP;
    return tag;
  }

  /** The low 32 bits of a varint (what protobuf-es's uint32() returns, before its sign handling). */
  private uint32(): number {
    const b = this.buf;
    let x = b[this.pos++] as number;
    if (x < 0x80) return x;
    x &= 0x7f;
    let shift = 7;
    for (;;) {
      if (this.pos >= b.length) throw GIVE_UP;
      const byte = b[this.pos++] as number;
      if (shift < 32) x |= (byte & 0x7f) << shift;
      if (byte < 0x80) return x;
      shift += 7;
      if (shift > 63) throw GIVE_UP;
    }
  }

  /** An unsigned varint as a number when it is a safe integer, else as a bigint. */
  private varint(): number | bigint {
    const start = this.pos;
    const b = this.buf;
    let x = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const byte = b[this.pos++];
      if (byte === undefined) throw GIVE_UP;
      x += (byte & 0x7f) * scale;
      if (byte < 0x80) return x;
      scale *= 128;
    }
    this.pos = start;
    return safe(this.varint64());
  }

  /** A varint's 64 bits, unsigned. */
  private varint64(): bigint {
    const b = this.buf;
    let x = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = b[this.pos++];
      if (byte === undefined) throw GIVE_UP;
      x |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, x);
    }
    throw GIVE_UP;
  }
}

/** Integers travel as numbers when exact, else as bigints (see cel-fast.ts on why both compare right). */
export function safe(v: bigint): number | bigint {
  return v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn ? Number(v) : v;
}

/** The zero value of a map's value type, when its entry omits the value. */
function zeroOf(s: ScalarType): unknown {
  if (s === ScalarType.STRING) return "";
  if (s === ScalarType.BOOL) return false;
  return 0;
}

/** Whether a singular field of `message` can be planned (its value kinds are the ones read above). */
export function plannable(message: DescMessage, f: DescField): boolean {
  if (f.parent !== message) return false;
  if (f.fieldKind === "enum") return f.enum.open;
  if (f.fieldKind === "scalar") return f.scalar !== ScalarType.BYTES;
  if (f.fieldKind === "map") return f.mapKey === ScalarType.STRING && f.mapKind === "scalar" && f.scalar !== ScalarType.BYTES;
  return f.fieldKind === "message";
}
