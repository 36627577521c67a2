/**
 * The little of protobuf's wire format berth needs: a reader for BuildKit's
 * progress records and session messages, and a writer for the session's
 * answers. Only the encoding; message layouts live with their users.
 *
 * @module
 */

/** Wire type of varint fields (int32, int64, uint64, bool, enum). */
export const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
/** Wire type of length-delimited fields (string, bytes, messages). */
export const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Malformed protobuf; callers turn it into their own error. */
export class ProtobufError extends Error {
  /** Always `"ProtobufError"`. */
  override name = "ProtobufError";
}

function invalid(message: string): ProtobufError {
  return new ProtobufError(message);
}

/** A cursor over one protobuf message (or a length-delimited part of one). */
export class Reader {
  #bytes: Uint8Array;
  #at: number;
  #end: number;

  /**
   * @param bytes The message's bytes.
   * @param start Where the message starts in `bytes`.
   * @param end Where it ends.
   */
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#at = start;
    this.#end = end;
  }

  /** Whether every field was read. */
  get done(): boolean {
    return this.#at >= this.#end;
  }

  /**
   * A varint as a number: exact up to 2^53 in magnitude; an int64 below
   * zero (sent as 10 bytes of two's complement) comes out negative.
   */
  varint(): number {
    let value = 0;
    let scale = 1;
    // Up to 7 bytes (49 bits) a number adds them up exactly.
    for (let i = 0; i < 7; i++) {
      const byte = this.#byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    let big = BigInt(value);
    for (let i = 7; i < 10; i++) {
      const byte = this.#byte();
      big |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        if (i === 9 && byte > 1) throw invalid("a varint does not fit in 64 bits");
        return Number(BigInt.asIntN(64, big));
      }
    }
    throw invalid("a varint is longer than 10 bytes");
  }

  #byte(): number {
    if (this.#at >= this.#end) throw invalid("a varint runs past the end of its message");
    return this.#bytes[this.#at++]!;
  }

  /** Field number and wire type of the next field. */
  tag(): [field: number, wire: number] {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field < 1) throw invalid(`field number ${field} at byte ${this.#at}`);
    return [field, key % 8];
  }

  /** A length-delimited field's bounds, as a reader over them. */
  message(): Reader {
    const length = this.varint();
    const start = this.#at;
    // A 10-byte varint reads as a negative int64: taken as a length, it
    // would move the cursor back, and a field could be read forever.
    if (length < 0) throw invalid(`a field's length ${length} is negative`);
    if (length > this.#end - start) {
      throw invalid(`a field of ${length} bytes runs past the end of its message`);
    }
    this.#at = start + length;
    return new Reader(this.#bytes, start, start + length);
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Uint8Array {
    const part = this.message();
    return part.#bytes.subarray(part.#at, part.#end);
  }

  /** A length-delimited field as UTF-8 text. */
  string(): string {
    return utf8.decode(this.bytes());
  }

  /** Skips a field of the given wire type. */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.#advance(8);
        return;
      case WIRE_BYTES:
        this.message();
        return;
      case WIRE_FIXED32:
        this.#advance(4);
        return;
      default:
        throw invalid(`unsupported wire type ${wire}`);
    }
  }

  #advance(count: number): void {
    if (count > this.#end - this.#at) throw invalid("a fixed-size field runs past the end");
    this.#at += count;
  }
}

/**
 * Reads every field of a message, handing each one `wires` names to
 * `read` (which must consume it); other fields are skipped. A known field
 * of the wrong wire type is an error.
 *
 * @param reader The message.
 * @param wires Wire type of each known field, by field number.
 * @param read Reads one known field from `reader`.
 * @throws {ProtobufError} On malformed input.
 */
export function fields(
  reader: Reader,
  wires: Record<number, number>,
  read: (field: number, reader: Reader) => void,
): void {
  while (!reader.done) {
    const [field, wire] = reader.tag();
    const expected = wires[field];
    if (expected === undefined) {
      reader.skip(wire);
    } else if (wire !== expected) {
      throw invalid(`field ${field} has wire type ${wire}, expected ${expected}`);
    } else {
      read(field, reader);
    }
  }
}

/** Builds one message, field by field, in the order written. */
export class Writer {
  #parts: number[] = [];

  /** Appends a varint field (skipped when 0, as proto3 does). */
  varint(field: number, value: number): this {
    if (value === 0) return this;
    this.#key(field, WIRE_VARINT);
    this.#varint(value);
    return this;
  }

  /**
   * Appends an int64 varint field (skipped when 0): any 64-bit value, a
   * negative one as its two's complement (10 bytes), as protobuf does.
   */
  int64(field: number, value: bigint): this {
    if (value === 0n) return this;
    this.#key(field, WIRE_VARINT);
    let rest = BigInt.asUintN(64, value);
    while (rest >= 0x80n) {
      this.#parts.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.#parts.push(Number(rest));
    return this;
  }

  /** Appends a string or bytes field (skipped when empty, as proto3 does). */
  bytes(field: number, value: string | Uint8Array): this {
    const data = typeof value === "string" ? encoder.encode(value) : value;
    if (data.length === 0) return this;
    this.#key(field, WIRE_BYTES);
    this.#varint(data.length);
    for (const byte of data) this.#parts.push(byte);
    return this;
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }

  #key(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot encode ${value} as a protobuf varint`);
    }
    while (value >= 0x80) {
      this.#parts.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.#parts.push(value);
  }
}
