/**
 * Protobuf written here from the wire format spec, for the BuildKit session
 * fuzz tests: an encoder of any field and a reference reader, both on
 * BigInt; a walk that fails where the Reader under test would loop; and
 * random text and 64-bit integers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ProtobufError, Reader } from "../../src/build/_protobuf.ts";
import type { Random } from "../_fuzz.ts";
import { utf8 } from "../http2/_client.ts";

/** A varint of any 64-bit value; a negative one as its two's complement (10 bytes). */
export function varint(value: number | bigint): number[] {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

/** A field's key: its number and wire type. */
export const key = (field: number, wire: number): number[] =>
  varint(BigInt(field) * 8n + BigInt(wire));
/** A varint field, present even when 0. */
export const varintField = (field: number, value: number | bigint): number[] => [
  ...key(field, 0),
  ...varint(value),
];
/** A length-delimited field, present even when empty. */
export const bytesField = (field: number, data: Uint8Array | number[] | string): number[] => {
  const bytes = typeof data === "string" ? [...utf8.encode(data)] : [...data];
  return [...key(field, 2), ...varint(bytes.length), ...bytes];
};

/** A reference reader's failure. */
export class Malformed extends Error {}

/**
 * Reads a message's fields as the spec says, with berth's documented
 * limits: a varint of at most 10 bytes whose 10th byte is 0 or 1, read as
 * an int64 (`Number(BigInt.asIntN(64, …))`, exact to 2^53); field numbers
 * from 1; wire types 0, 1, 2 and 5; lengths that are not negative and stay
 * within the message.
 *
 * @param bytes The message.
 * @returns Each field: number, wire type, and the value (a number for
 *   varints, the bytes for the others).
 * @throws {Malformed} When the message is malformed.
 */
export function referenceFields(
  bytes: Uint8Array,
): [field: number, wire: number, value: number | Uint8Array][] {
  const out: [number, number, number | Uint8Array][] = [];
  let at = 0;
  const readVarint = (): number => {
    let big = 0n;
    for (let i = 0; i < 10; i++) {
      if (at >= bytes.length) throw new Malformed("varint past the end");
      const byte = bytes[at++]!;
      big |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        if (i === 9 && byte > 1) throw new Malformed("varint over 64 bits");
        return Number(BigInt.asIntN(64, big));
      }
    }
    throw new Malformed("varint over 10 bytes");
  };
  const take = (count: number): Uint8Array => {
    if (count < 0 || count > bytes.length - at) throw new Malformed("past the end");
    at += count;
    return bytes.subarray(at - count, at);
  };
  while (at < bytes.length) {
    const k = readVarint();
    const field = Math.floor(k / 8);
    const wire = k % 8;
    if (field < 1) throw new Malformed("field 0");
    if (wire === 0) out.push([field, wire, readVarint()]);
    else if (wire === 1) out.push([field, wire, take(8)]);
    else if (wire === 2) out.push([field, wire, take(readVarint())]);
    else if (wire === 5) out.push([field, wire, take(4)]);
    else throw new Malformed(`wire type ${wire}`);
  }
  return out;
}

/**
 * Walks a message with the Reader under test, descending into every
 * length-delimited field that parses, and checks that each loop makes
 * progress: a reader that moves backwards fails here instead of hanging.
 *
 * @param bytes The message.
 * @param what The case, for the message.
 * @throws {ProtobufError} What the Reader throws.
 */
export function walk(bytes: Uint8Array, what: string): void {
  const visit = (reader: Reader, depth: number): void => {
    let count = 0;
    while (!reader.done) {
      if (++count > bytes.length) assert.fail(`the reader loops: ${what}`);
      const [, wire] = reader.tag();
      if (wire !== 2 || depth >= 16) {
        reader.skip(wire);
        continue;
      }
      const inner = reader.message();
      try {
        visit(inner, depth + 1);
      } catch (error) {
        if (!(error instanceof ProtobufError)) throw error;
      }
    }
  };
  visit(new Reader(bytes), 0);
}

/**
 * Walks a message about to reach a decoder under test: should the Reader
 * loop on it, this fails the test, where the decoder would hang it.
 *
 * @param bytes The message.
 * @param what The case, for the message.
 */
export function guard(bytes: Uint8Array, what: string): void {
  try {
    walk(bytes, what);
  } catch (error) {
    if (!(error instanceof ProtobufError)) throw error;
  }
}

/** Characters of random text: ASCII, two-, three- and four-byte UTF-8. */
const CHARS = [..."abcXYZ019 -_/.:é日本😀\n\t\0"];

/**
 * Random text that survives UTF-8 both ways.
 *
 * @param random The random source.
 * @param most Most characters.
 * @returns The text.
 */
export function randomText(random: Random, most: number): string {
  return Array.from({ length: random.int(most + 1) }, () => random.pick(CHARS)).join("");
}

/** A random 64-bit integer, often small, sometimes negative. */
export function randomInt64(random: Random): bigint {
  switch (random.int(4)) {
    case 0:
      return BigInt(random.int(300));
    case 1:
      return -BigInt(1 + random.int(2 ** 31));
    case 2:
      return BigInt(random.int(2 ** 32)) * 2n ** 21n + BigInt(random.int(2 ** 21)); // < 2^53
    default:
      return BigInt.asIntN(64, (BigInt(random.int(2 ** 32)) << 32n) | BigInt(random.int(2 ** 32)));
  }
}
