/**
 * Seeded fuzz tests of the BuildKit session's decoders of engine bytes:
 * protobuf (`_protobuf.ts`), BuildKit progress records
 * (`decodeBuildKitTrace`), gRPC message framing (unary and streaming, as
 * the session reads it), fsutil packets (`sendDirectory`) and SSH agent
 * messages (`relayAgent`). Valid inputs must round-trip exactly; damaged
 * ones must fail with the documented error, in time linear in the input.
 * `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a
 * failure or run longer.
 */

import assert from "node:assert/strict";
import { decodeBuildKitTrace } from "../../src/build/buildkit_trace.ts";
import type { BuildKitStatus } from "../../src/build/buildkit_trace.ts";
import { sendDirectory, SyncError } from "../../src/build/filesync.ts";
import { AgentRelayError, relayAgent } from "../../src/build/_ssh_agent.ts";
import { fields, ProtobufError, Reader, Writer } from "../../src/build/_protobuf.ts";
import { grpcFrame } from "../../src/build/_grpc.ts";
import { type BuildSessionSources, sessionHandler, startSession } from "../../src/build/session.ts";
import { DockerProtocolError } from "../../src/errors.ts";
import type { Connection } from "../../src/http/connection.ts";
import { fuzzCases, fuzzSeed, mutate, Random, randomSplit } from "../_fuzz.ts";
import {
  concat,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  FakeClient,
  headersFrame,
  PREFACE,
  requestFields,
  settingsFrame,
  utf8,
} from "../http2/_client.ts";

/**
 * Names a failing case so it replays: seed, case index and the input,
 * hex-escaped and cut to its first 96 bytes.
 *
 * @param seed The seed the case's random source started from.
 * @param index The case's index.
 * @param input The bytes of the case.
 * @returns The description.
 */
function describe(seed: number, index: number, input: Uint8Array): string {
  const more = input.length > 96 ? `… (${input.length} bytes)` : "";
  return `seed ${seed}, case ${index}, input ${input.subarray(0, 96).toHex()}${more}`;
}

/**
 * Settles like `promise`, or rejects when it takes longer than `ms`.
 *
 * @param promise What to wait for.
 * @param ms The time allowed.
 * @param what The case, for the message.
 * @returns What `promise` resolved with.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no progress within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a promise settled with. */
type Outcome<T> = { value: T } | { error: unknown };

/**
 * Waits for `promise` and reports how it settled.
 *
 * @param promise The call.
 * @returns Its value or its rejection.
 */
async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

// ---------------------------------------------------------------------------
// Protobuf, written here from the wire format spec: an encoder of any field
// and a reference reader, both on BigInt.

/** A varint of any 64-bit value; a negative one as its two's complement (10 bytes). */
function varint(value: number | bigint): number[] {
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
const key = (field: number, wire: number): number[] => varint(BigInt(field) * 8n + BigInt(wire));
/** A varint field, present even when 0. */
const varintField = (field: number, value: number | bigint): number[] => [
  ...key(field, 0),
  ...varint(value),
];
/** A length-delimited field, present even when empty. */
const bytesField = (field: number, data: Uint8Array | number[] | string): number[] => {
  const bytes = typeof data === "string" ? [...utf8.encode(data)] : [...data];
  return [...key(field, 2), ...varint(bytes.length), ...bytes];
};

/** A reference reader's failure. */
class Malformed extends Error {}

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
function referenceFields(
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
function walk(bytes: Uint8Array, what: string): void {
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
function guard(bytes: Uint8Array, what: string): void {
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
function randomText(random: Random, most: number): string {
  return Array.from({ length: random.int(most + 1) }, () => random.pick(CHARS)).join("");
}

/** A random 64-bit integer, often small, sometimes negative. */
function randomInt64(random: Random): bigint {
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

/** A field of a random message, as written and as it must read back. */
type Field =
  | { kind: "varint"; field: number; value: number }
  | { kind: "int64"; field: number; value: bigint }
  | { kind: "bytes"; field: number; value: Uint8Array }
  | { kind: "string"; field: number; value: string }
  | { kind: "message"; field: number; value: Field[] }
  | { kind: "fixed"; field: number; wire: 1 | 5; value: Uint8Array };

/**
 * A random message: every kind of field, field numbers up to 2^29 - 1,
 * nested up to `depth` levels. Values are never proto3's defaults, which
 * the Writer leaves out.
 */
function randomMessage(random: Random, depth: number): Field[] {
  const out: Field[] = [];
  for (let n = 1 + random.int(6); n > 0; n--) {
    const field = random.int(3) === 0 ? 1 + random.int(2 ** 29 - 1) : 1 + random.int(20);
    const kind = random.int(depth > 0 ? 6 : 5);
    if (kind === 0) {
      out.push({
        kind: "varint",
        field,
        value: 1 + random.int(random.pick([127, 2 ** 31, 2 ** 53 - 1])),
      });
    } else if (kind === 1) {
      const value = randomInt64(random);
      out.push({ kind: "int64", field, value: value === 0n ? 1n : value });
    } else if (kind === 2) {
      out.push({
        kind: "bytes",
        field,
        value: random.bytes(1 + random.int(random.pick([8, 300]))),
      });
    } else if (kind === 3) {
      out.push({ kind: "string", field, value: randomText(random, 30) || "x" });
    } else if (kind === 4) {
      const wire = random.pick([1, 5] as const);
      out.push({ kind: "fixed", field, wire, value: random.bytes(wire === 1 ? 8 : 4) });
    } else {
      out.push({ kind: "message", field, value: randomMessage(random, depth - 1) });
    }
  }
  return out;
}

/** Encodes a random message with the Writer under test (fixed fields by hand). */
function encodeMessage(message: Field[]): Uint8Array {
  return concat(
    ...message.map((f) => {
      switch (f.kind) {
        case "varint":
          return new Writer().varint(f.field, f.value).finish();
        case "int64":
          return new Writer().int64(f.field, f.value).finish();
        case "bytes":
        case "string":
          return new Writer().bytes(f.field, f.value).finish();
        case "message":
          return new Writer().bytes(f.field, encodeMessage(f.value)).finish();
        case "fixed":
          return Uint8Array.from([...key(f.field, f.wire), ...f.value]);
      }
    }),
  );
}

/** Reads a random message back with the Reader under test, checking every field. */
function checkMessage(reader: Reader, message: Field[], what: string): void {
  for (const f of message) {
    assert.ok(!reader.done, `field ${f.field} missing: ${what}`);
    const [field, wire] = reader.tag();
    assert.equal(field, f.field, what);
    switch (f.kind) {
      case "varint":
        assert.equal(wire, 0, what);
        assert.equal(reader.varint(), f.value, what);
        break;
      case "int64":
        assert.equal(wire, 0, what);
        assert.equal(reader.varint(), Number(BigInt.asIntN(64, f.value)), what);
        break;
      case "bytes":
        assert.equal(wire, 2, what);
        assert.deepEqual(reader.bytes(), f.value, what);
        break;
      case "string":
        assert.equal(wire, 2, what);
        assert.equal(reader.string(), f.value, what);
        break;
      case "message":
        assert.equal(wire, 2, what);
        checkMessage(reader.message(), f.value, what);
        break;
      case "fixed":
        assert.equal(wire, f.wire, what);
        reader.skip(wire);
    }
  }
  assert.ok(reader.done, `fields left over: ${what}`);
}

Deno.test("Reader reads back every random message the Writer wrote", () => {
  const seed = fuzzSeed();
  const random = new Random(seed);
  for (let index = 0; index < fuzzCases(1000); index++) {
    const message = randomMessage(random, 3);
    const bytes = encodeMessage(message);
    const what = describe(seed, index, bytes);
    checkMessage(new Reader(bytes), message, what);
    // The reference reads the same top-level fields.
    const reference = referenceFields(bytes);
    assert.deepEqual(reference.map(([field]) => field), message.map((f) => f.field), what);
    // Skipping everything consumes everything.
    fields(new Reader(bytes), {}, () => assert.fail("no field is known"));
  }
});

Deno.test("Reader fails damaged and random messages with ProtobufError, as the reference does", () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x9b);
  let failed = 0;
  const cases = fuzzCases(3000);
  for (let index = 0; index < cases; index++) {
    const bytes = random.int(4) === 0
      ? random.bytes(random.int(64))
      : mutate(random, encodeMessage(randomMessage(random, 2)), [
        0x00,
        0x01,
        0x02,
        0x7f,
        0x80,
        0xff,
      ]);
    const what = describe(seed, index, bytes);
    let expected: ReturnType<typeof referenceFields> | undefined;
    try {
      expected = referenceFields(bytes);
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
    }
    // Top level: every field read (fixed-size ones skipped), or a
    // ProtobufError where the reference fails.
    const got: [number, number, number | Uint8Array | null][] = [];
    try {
      const reader = new Reader(bytes);
      for (let count = 0; !reader.done; count++) {
        if (count > bytes.length) assert.fail(`the reader loops: ${what}`);
        const [field, wire] = reader.tag();
        if (wire === 0) got.push([field, wire, reader.varint()]);
        else if (wire === 2) got.push([field, wire, reader.bytes()]);
        else {
          reader.skip(wire);
          got.push([field, wire, null]);
        }
      }
    } catch (error) {
      assert.ok(error instanceof ProtobufError, `threw ${error}: ${what}`);
      assert.equal(
        expected,
        undefined,
        `the reference reads it, the Reader threw ${error}: ${what}`,
      );
      failed++;
      continue;
    }
    assert.ok(expected !== undefined, `the Reader reads what the reference refuses: ${what}`);
    assert.deepEqual(
      got,
      expected.map((
        [field, wire, value],
      ) => [field, wire, wire === 1 || wire === 5 ? null : value]),
      what,
    );
    // Nested: terminates, throws nothing but ProtobufError.
    try {
      walk(bytes, what);
    } catch (error) {
      assert.ok(error instanceof ProtobufError, `threw ${error}: ${what}`);
    }
  }
  assert.ok(failed > cases / 10 && failed < cases * 0.9, `${failed} of ${cases} failed`);
});

Deno.test("Reader rejects hostile varints and lengths quickly, with no allocation from a length", () => {
  const hostile: [string, number[]][] = [
    ["a negative length (the cursor would move back)", [0x2a, ...varint(-11n)]],
    ["a length of -1", [0x0a, ...varint(-1n)]],
    ["a length of -2^63", [0x0a, ...varint(-(2n ** 63n))]],
    ["a length of 2^31", [0x0a, ...varint(2 ** 31), 0x61]],
    ["a length of 2^53", [0x0a, ...varint(2n ** 53n), 0x61]],
    ["a length of 2^63 - 1", [0x0a, ...varint(2n ** 63n - 1n)]],
    ["a varint of 11 bytes", [0x08, ...new Array(10).fill(0xff), 0x01]],
    ["a varint whose 10th byte is 2", [0x08, ...new Array(9).fill(0xff), 0x02]],
    ["a varint cut short", [0x08, 0xff, 0xff]],
    ["a key cut short", [0xff]],
    ["field number 0", [0x02, 0x00]],
    ["a negative key", [...varint(-8n), 0x00]],
    ["wire type 3 (group)", [0x0b]],
    ["wire type 4 (group end)", [0x0c]],
    ["wire type 6", [0x0e, 0x00]],
    ["wire type 7", [0x0f, 0x00]],
    ["a fixed64 cut short", [0x09, 1, 2, 3]],
    ["a fixed32 cut short", [0x0d, 1, 2, 3]],
  ];
  for (const [what, bytes] of hostile) {
    const message = Uint8Array.from(bytes);
    const started = performance.now();
    assert.throws(() => walk(message, what), ProtobufError, `${what}: ${message.toHex()}`);
    assert.throws(() => referenceFields(message), Malformed, what);
    assert.ok(performance.now() - started < 50, `${what}: ${performance.now() - started} ms`);
  }
  // 100,000 nested levels are skipped at the top, not descended into.
  const lengths = [0]; // Of each level's contents, innermost first.
  for (let i = 1; i < 100_000; i++) {
    lengths.push(1 + varint(lengths[i - 1]!).length + lengths[i - 1]!);
  }
  const nested = lengths.reverse().flatMap((length) => [0x4a, ...varint(length)]);
  const started = performance.now();
  fields(new Reader(Uint8Array.from(nested)), {}, () => assert.fail("no field is known"));
  assert.ok(performance.now() - started < 50);
});

// ---------------------------------------------------------------------------
// decodeBuildKitTrace

/** Field numbers each message of StatusResponse knows; others are skipped. */
const KNOWN = { status: 4, vertex: 7, vertexStatus: 8, log: 4, warning: 5, timestamp: 2 };

/** Unknown fields to sprinkle in: a random wire type and payload, a field number past `known`. */
function unknownFields(random: Random, known: number): number[] {
  const out: number[] = [];
  for (let n = random.int(3) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
    const field = known + 1 + random.int(random.pick([10, 2 ** 20]));
    switch (random.int(4)) {
      case 0:
        out.push(...varintField(field, randomInt64(random)));
        break;
      case 1:
        out.push(...key(field, 1), ...random.bytes(8));
        break;
      case 2:
        out.push(...key(field, 5), ...random.bytes(4));
        break;
      default:
        out.push(...bytesField(field, random.bytes(random.int(20))));
    }
  }
  return out;
}

/** Joins a message's fields, in a random order, with unknown fields between them. */
function message(random: Random, known: number, parts: number[][]): number[] {
  const shuffled = shuffle(random, [...parts]);
  return [
    ...unknownFields(random, known),
    ...shuffled.flatMap((p) => [...p, ...unknownFields(random, known)]),
  ];
}

/** A Timestamp: the encoded message and the Date it decodes to. */
function timestamp(random: Random): { bytes: number[]; date: Date } {
  const seconds = random.int(4) === 0 ? 0 : random.int(4_000_000_000);
  const nanos = random.int(4) === 0 ? 0 : random.int(1_000_000_000);
  const parts: number[][] = [];
  if (seconds !== 0 || random.int(2)) parts.push(varintField(1, seconds));
  if (nanos !== 0 || random.int(2)) parts.push(varintField(2, nanos));
  return {
    bytes: message(random, KNOWN.timestamp, parts),
    date: new Date(seconds * 1000 + Math.floor(nanos / 1e6)),
  };
}

/**
 * A random StatusResponse: vertexes, statuses, logs and warnings with
 * every field present or not, in any order, with unknown fields between
 * them; and the BuildKitStatus it must decode to.
 */
function randomStatus(random: Random): { bytes: Uint8Array; expected: BuildKitStatus } {
  const expected: BuildKitStatus = { vertexes: [], statuses: [], logs: [], warnings: [] };
  const top: number[][] = [];
  const text = () => (random.int(5) === 0 ? "" : randomText(random, 20));
  for (let n = random.int(4); n > 0; n--) {
    const parts: number[][] = [];
    const v: BuildKitStatus["vertexes"][number] = {
      digest: "",
      inputs: [],
      name: "",
      cached: false,
    };
    if (random.int(4)) parts.push(bytesField(1, v.digest = `sha256:${random.bytes(8).toHex()}`));
    for (let i = random.int(3); i > 0; i--) {
      const input = text();
      v.inputs.push(input);
      parts.push(bytesField(2, input));
    }
    if (random.int(2)) parts.push(bytesField(3, v.name = text()));
    if (random.int(2)) {
      const cached = random.pick([0, 1, 2 ** 40]);
      v.cached = cached !== 0;
      parts.push(varintField(4, cached));
    }
    if (random.int(2)) {
      const t = timestamp(random);
      v.started = t.date;
      parts.push(bytesField(5, t.bytes));
    }
    if (random.int(2)) {
      const t = timestamp(random);
      v.completed = t.date;
      parts.push(bytesField(6, t.bytes));
    }
    if (random.int(2)) {
      const error = text();
      if (error !== "") v.error = error;
      parts.push(bytesField(7, error));
    }
    // Repeated inputs keep their order: the shuffle moves whole fields, so keep them last.
    const inputs = parts.filter((p) => p[0] === 0x12);
    const others = parts.filter((p) => p[0] !== 0x12);
    top.push(bytesField(1, [...message(random, KNOWN.vertex, others), ...inputs.flat()]));
    expected.vertexes.push(v);
  }
  for (let n = random.int(4); n > 0; n--) {
    const parts: number[][] = [];
    const s: BuildKitStatus["statuses"][number] = {
      id: "",
      vertex: "",
      name: "",
      current: 0,
      total: 0,
    };
    if (random.int(2)) parts.push(bytesField(1, s.id = text()));
    if (random.int(2)) parts.push(bytesField(2, s.vertex = text()));
    if (random.int(2)) parts.push(bytesField(3, s.name = text()));
    if (random.int(2)) {
      const current = randomInt64(random);
      s.current = Number(current);
      parts.push(varintField(4, current));
    }
    if (random.int(2)) {
      const total = randomInt64(random);
      s.total = Number(total);
      parts.push(varintField(5, total));
    }
    for (const [field, name] of [[6, "timestamp"], [7, "started"], [8, "completed"]] as const) {
      if (random.int(2)) continue;
      const t = timestamp(random);
      s[name] = t.date;
      parts.push(bytesField(field, t.bytes));
    }
    top.push(bytesField(2, message(random, KNOWN.vertexStatus, parts)));
    expected.statuses.push(s);
  }
  for (let n = random.int(4); n > 0; n--) {
    const parts: number[][] = [];
    const l: BuildKitStatus["logs"][number] = { vertex: "", stream: 0, data: new Uint8Array(0) };
    if (random.int(2)) parts.push(bytesField(1, l.vertex = text()));
    if (random.int(2)) {
      const t = timestamp(random);
      l.timestamp = t.date;
      parts.push(bytesField(2, t.bytes));
    }
    if (random.int(2)) parts.push(varintField(3, l.stream = random.int(3)));
    if (random.int(2)) parts.push(bytesField(4, [...(l.data = random.bytes(random.int(300)))]));
    top.push(bytesField(3, message(random, KNOWN.log, parts)));
    expected.logs.push(l);
  }
  for (let n = random.int(3); n > 0; n--) {
    const parts: number[][] = [];
    const w: BuildKitStatus["warnings"][number] = { vertex: "", level: 0, short: "", detail: [] };
    if (random.int(2)) parts.push(bytesField(1, w.vertex = text()));
    if (random.int(2)) parts.push(varintField(2, w.level = random.int(4)));
    if (random.int(2)) parts.push(bytesField(3, w.short = text()));
    const details: number[][] = [];
    for (let i = random.int(3); i > 0; i--) {
      const detail = text();
      w.detail.push(detail);
      details.push(bytesField(4, detail));
    }
    if (random.int(2)) {
      const url = text();
      if (url !== "") w.url = url;
      parts.push(bytesField(5, url));
    }
    top.push(bytesField(4, [...message(random, KNOWN.warning, parts), ...details.flat()]));
    expected.warnings.push(w);
  }
  return {
    bytes: Uint8Array.from([...unknownFields(random, KNOWN.status), ...top.flat()]),
    expected,
  };
}

/**
 * Checks the shape of a decoded record: what the types promise.
 *
 * @param status The record.
 * @param what The case, for the message.
 */
function checkShape(status: BuildKitStatus, what: string): void {
  const isDate = (d: unknown) => d === undefined || d instanceof Date;
  for (const v of status.vertexes) {
    assert.ok(typeof v.digest === "string" && typeof v.name === "string", what);
    assert.ok(v.inputs.every((i) => typeof i === "string") && typeof v.cached === "boolean", what);
    assert.ok(isDate(v.started) && isDate(v.completed), what);
    assert.ok(v.error === undefined || (typeof v.error === "string" && v.error !== ""), what);
  }
  for (const s of status.statuses) {
    assert.ok(typeof s.current === "number" && typeof s.total === "number", what);
    assert.ok(isDate(s.timestamp) && isDate(s.started) && isDate(s.completed), what);
  }
  for (const l of status.logs) assert.ok(l.data instanceof Uint8Array && isDate(l.timestamp), what);
  for (const w of status.warnings) assert.ok(w.detail.every((d) => typeof d === "string"), what);
}

/**
 * Asserts that `run` throws the documented INVALID_BUILDKIT_TRACE error.
 *
 * @param run The decode.
 * @param what The case, for the message.
 */
function assertTraceError(run: () => unknown, what: string): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DockerProtocolError, `threw ${error}: ${what}`);
    assert.equal(error.code, "INVALID_BUILDKIT_TRACE", what);
    return;
  }
  assert.fail(`decoded: ${what}`);
}

Deno.test("decodeBuildKitTrace decodes random valid records exactly", () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x7ace);
  for (let index = 0; index < fuzzCases(500); index++) {
    const { bytes, expected } = randomStatus(random);
    const what = describe(seed, index, bytes);
    let status: BuildKitStatus;
    try {
      status = decodeBuildKitTrace(bytes.toBase64());
    } catch (error) {
      assert.fail(`${error}: ${what}`);
    }
    assert.deepEqual(status, expected, what);
  }
});

Deno.test("decodeBuildKitTrace fails damaged records with DockerProtocolError only", () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0xda3);
  let failed = 0;
  const cases = fuzzCases(2000);
  for (let index = 0; index < cases; index++) {
    const { bytes } = randomStatus(random);
    let aux: string;
    let damaged: Uint8Array;
    if (random.int(5) === 0) {
      // Damage to the base64 text itself.
      damaged = mutate(random, utf8.encode(bytes.toBase64()), [0x3d, 0x2b, 0x2f, 0x20, 0x0a, 0x41]);
      aux = new TextDecoder().decode(damaged);
    } else {
      damaged = mutate(random, bytes, [0x00, 0x01, 0x0a, 0x12, 0x7f, 0x80, 0xff]);
      aux = damaged.toBase64();
      guard(damaged, describe(seed, index, damaged));
    }
    const what = describe(seed, index, damaged);
    try {
      checkShape(decodeBuildKitTrace(aux), what);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      assertTraceError(() => {
        throw error;
      }, what);
      failed++;
    }
  }
  assert.ok(failed > cases / 10, `only ${failed} of ${cases} failed`);
  for (const aux of [undefined, null, 42, {}, "%%%", "A"]) {
    assertTraceError(() => decodeBuildKitTrace(aux as unknown as string), String(aux));
  }
});

Deno.test("decodeBuildKitTrace rejects a negative field length instead of reading it forever", () => {
  // Field 5 (unknown to StatusResponse), wire type 2, length -11: taken as
  // a length, the cursor went back to the field's own key, again and again.
  const loop = Uint8Array.from([0x2a, ...varint(-11n)]);
  assert.equal(loop.length, 11);
  assert.throws(() => walk(loop, "the loop"), ProtobufError);
  assertTraceError(() => decodeBuildKitTrace(loop.toBase64()), loop.toHex());
  // Inside a vertex, in a known field and in an unknown one.
  for (const inner of [[0x0a, ...varint(-1n)], [0x4a, ...varint(-3n)]]) {
    const record = Uint8Array.from(bytesField(1, inner));
    walk(record, record.toHex()); // Terminates (the nested failure is the field's own).
    const reader = new Reader(record);
    reader.tag();
    const vertex = reader.message();
    vertex.tag();
    assert.throws(() => vertex.message(), ProtobufError, record.toHex());
    assertTraceError(() => decodeBuildKitTrace(record.toBase64()), record.toHex());
  }
});

// ---------------------------------------------------------------------------
// gRPC framing: unary calls (sessionHandler) and streaming calls (startSession)

const SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const HEALTH = "/grpc.health.v1.Health/Check";
const OUTPUT = "/moby.filesync.v1.FileSend/DiffCopy";
/** Largest message of a streaming call the session takes. */
const MAX_STREAM_MESSAGE = 4 * 1024 * 1024;

/**
 * What the session must answer to a unary call's body, worked out here:
 * the gRPC status, and for a secret request, the id it asks for.
 *
 * @param body The call's body.
 * @param secret Whether the call reads its message (a secret request) or
 *   only its framing (a health check).
 */
function expectedUnary(body: Uint8Array, secret: boolean): { status: string; id?: string } {
  if (body.length < 5) return { status: "3" };
  if (body[0] !== 0) return { status: "12" };
  if (new DataView(body.buffer, body.byteOffset, 5).getUint32(1) !== body.length - 5) {
    return { status: "3" };
  }
  if (!secret) return { status: "0" };
  let id = "";
  try {
    for (const [field, wire, value] of referenceFields(body.subarray(5))) {
      if (field !== 1) continue;
      if (wire !== 2) return { status: "3" };
      id = new TextDecoder().decode(value as Uint8Array);
    }
  } catch (error) {
    if (error instanceof Malformed) return { status: "3" };
    throw error;
  }
  return { status: "0", id };
}

Deno.test("sessionHandler answers every unary call body with the right gRPC status", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x69c);
  const cases = fuzzCases(1000);
  const statuses = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const id = randomText(random, 12) || "id";
    const secret = random.bytes(random.int(100));
    const secrets: Record<string, Uint8Array> = { [id]: secret };
    const handler = sessionHandler({ secrets });
    const valid = grpcFrame(new Writer().bytes(1, id).finish());
    const shape = random.int(6);
    const body = shape === 0 ? valid : shape === 1
      ? Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff, 0x0a) // A declared length of 4 GiB.
      : mutate(random, valid, [0x00, 0x01, 0x0a, 0x80, 0xff]);
    const what = describe(seed, index, body);
    const path = random.int(8) === 0 ? HEALTH : SECRET;
    const response = await handler({
      streamId: 1,
      method: "POST",
      path,
      headers: requestFields(path),
      body,
    });
    const trailers = new Map(response.trailers);
    guard(body.subarray(5), what);
    const expected = expectedUnary(body, path === SECRET);
    const status = expected.status === "0" && path === SECRET && expected.id !== id
      ? "5"
      : expected.status;
    assert.equal(trailers.get("grpc-status"), status, what);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status !== "0") continue;
    const answer = path === HEALTH
      ? Uint8Array.of(0x08, 0x01)
      : new Writer().bytes(1, secret).finish();
    assert.deepEqual(response.body, grpcFrame(answer), what);
  }
  assert.deepEqual([...statuses.keys()].sort(), ["0", "12", "3", "5"], `${[...statuses]}`);
});

/**
 * What the session must make of a streaming call's body, worked out here:
 * the BytesMessage data it hands on (empty ones left out) and the gRPC
 * status it ends with.
 */
function expectedStream(body: Uint8Array): { pieces: Uint8Array[]; status: string } {
  const pieces: Uint8Array[] = [];
  let at = 0;
  while (body.length - at >= 5) {
    if (body[at] !== 0) return { pieces, status: "12" };
    const length = new DataView(body.buffer, body.byteOffset + at, 5).getUint32(1);
    if (length > MAX_STREAM_MESSAGE) return { pieces, status: "3" };
    if (body.length - at - 5 < length) break;
    let data: Uint8Array = new Uint8Array(0);
    try {
      for (const [field, wire, value] of referenceFields(body.subarray(at + 5, at + 5 + length))) {
        if (field !== 1) continue;
        if (wire !== 2) return { pieces, status: "3" };
        data = value as Uint8Array;
      }
    } catch (error) {
      if (error instanceof Malformed) return { pieces, status: "3" };
      throw error;
    }
    if (data.length > 0) pieces.push(data);
    at += 5 + length;
  }
  return { pieces, status: at === body.length ? "0" : "3" };
}

/**
 * Sends a streaming call's body to a fresh session, cut into DATA frames at
 * random offsets, and waits for the answer.
 *
 * @returns The gRPC status and what reached the output source.
 */
async function streamCall(
  random: Random,
  body: Uint8Array,
  what: string,
): Promise<{ status: string | undefined; received: Uint8Array[] }> {
  const received: Uint8Array[] = [];
  const sources: BuildSessionSources = {
    output: async (archive) => {
      for await (const piece of archive) received.push(piece.slice());
    },
  };
  const client = new FakeClient();
  const session = startSession("fuzz", client as unknown as Connection, sources);
  try {
    client.send(PREFACE, settingsFrame());
    client.send(
      headersFrame(
        1,
        requestFields(OUTPUT, "POST", [["content-type", "application/grpc"]]),
        END_HEADERS,
      ),
    );
    const pieces = randomSplit(random, body, 12).flatMap((piece) => {
      const out: Uint8Array[] = [];
      for (let at = 0; at < piece.length; at += 16_384) out.push(piece.subarray(at, at + 16_384));
      return out;
    });
    pieces.forEach((piece, i) =>
      client.send(dataFrame(1, piece, i === pieces.length - 1 ? END_STREAM : 0))
    );
    if (pieces.length === 0) client.send(dataFrame(1, new Uint8Array(0), END_STREAM));
    const view = await within(client.response(1), 2000, what);
    const trailers = new Map(view.trailers ?? view.headers);
    return { status: trailers.get("grpc-status"), received };
  } finally {
    session.close();
  }
}

Deno.test("a session's streaming call takes random gRPC framing exactly and refuses damaged framing", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x57e);
  const cases = fuzzCases(200);
  const statuses = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const messages: Uint8Array[] = [];
    for (let n = random.int(6); n > 0; n--) {
      // Empty data is an empty message: proto3 leaves the field out.
      const data = random.bytes(random.pick([0, 1, 100, 5000]));
      messages.push(grpcFrame(new Writer().bytes(1, data).finish()));
    }
    let body = concat(...messages);
    switch (random.int(8)) {
      case 0:
      case 1:
      case 2:
        break; // Valid.
      case 3: // A declared length past the limit, or of 4 GiB.
        body = concat(body, Uint8Array.of(0, 0xff, 0xff, 0xff, random.pick([0xff, 0x00])));
        break;
      case 4: // A negative length inside a BytesMessage (the Reader looped on it).
        body = concat(
          body,
          grpcFrame(Uint8Array.from([0x0a, ...varint(-(5n + BigInt(random.int(10))))])),
        );
        break;
      default:
        body = mutate(random, body, [0x00, 0x01, 0x0a, 0x80, 0xff]);
    }
    const what = describe(seed, index, body);
    for (let at = 0; at + 5 <= body.length;) {
      const length = new DataView(body.buffer, body.byteOffset + at, 5).getUint32(1);
      guard(body.subarray(at + 5, at + 5 + length), what);
      at += 5 + length;
    }
    const expected = expectedStream(body);
    const { status, received } = await streamCall(random, body, what);
    assert.equal(status, expected.status, what);
    assert.deepEqual(received, expected.pieces, what);
    statuses.set(expected.status, (statuses.get(expected.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses.keys()].sort(), ["0", "12", "3"], `${[...statuses]}`);
});

// ---------------------------------------------------------------------------
// fsutil packets (sendDirectory)

const STAT = 0;
const REQ = 1;
const DATA = 2;
const FIN = 3;
const ERR = 4;

/** A packet the receiver sends. */
const packet = (type: number, id = 0, text = ""): Uint8Array =>
  new Writer().varint(1, type).varint(3, id).bytes(4, text).finish();

/** The type, id and data of a framed packet berth wrote. */
function readPacket(framed: Uint8Array): { type: number; id: number; data: Uint8Array } {
  const out: { type: number; id: number; data: Uint8Array } = {
    type: 0,
    id: 0,
    data: new Uint8Array(0),
  };
  for (const [field, , value] of referenceFields(framed.subarray(5))) {
    if (field === 1) out.type = value as number;
    else if (field === 3) out.id = value as number;
    else if (field === 4) out.data = value as Uint8Array;
  }
  return out;
}

/**
 * Runs one transfer of `root`; the engine's packets come once every STAT
 * was written (so the walk is over, however the transfer ends).
 *
 * @param root The directory.
 * @param packets The engine's packets.
 * @returns How `sendDirectory` settled, and every packet it wrote.
 */
async function transfer(root: string, packets: Uint8Array[]) {
  const written: ReturnType<typeof readPacket>[] = [];
  const walked = Promise.withResolvers<void>();
  const messages = (async function* () {
    await walked.promise;
    yield* packets;
  })();
  const outcome = await settle(sendDirectory({ root }, {}, messages, (framed) => {
    written.push(readPacket(framed));
    if (framed.length === 5) walked.resolve(); // The empty STAT.
    return Promise.resolve();
  }, () => walked.resolve()));
  return { outcome, written };
}

/**
 * Shuffles a list in place (Fisher–Yates).
 *
 * @param random The random source.
 * @param items The list.
 * @returns The list.
 */
function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

Deno.test("sendDirectory answers random REQ packets exactly and fails damaged packets with SyncError", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0xf5);
  const root = await Deno.makeTempDir({ prefix: "berth-fuzz-" });
  try {
    const files: Record<string, Uint8Array> = {
      "a": random.bytes(100),
      "b/c": random.bytes(70_000), // Three DATA packets.
      "d": new Uint8Array(0),
    };
    for (const [path, data] of Object.entries(files)) {
      await Deno.mkdir(`${root}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(`${root}/${path}`, data);
    }
    // STAT order: a, b, b/c, d; b is a directory (not requestable).
    const ids: Record<number, Uint8Array> = { 0: files["a"]!, 2: files["b/c"]!, 3: files["d"]! };
    const cases = fuzzCases(150);
    let failed = 0;
    for (let index = 0; index < cases; index++) {
      const asked = shuffle(random, Object.keys(ids).map(Number).filter(() => random.int(2) === 0));
      const valid = [...asked.map((id) => packet(REQ, id)), packet(FIN)];
      const damage = random.int(3) !== 0;
      const at = random.int(valid.length);
      const sent = damage
        ? valid.map((p, i) =>
          i === at ? mutate(random, p, [0x00, 0x01, 0x03, 0x08, 0x18, 0x22, 0xff]) : p
        )
        : valid;
      if (damage && random.int(4) === 0) sent[at] = Uint8Array.from([0x22, ...varint(-3n)]);
      const what = describe(seed, index, concat(...sent));
      for (const p of sent) guard(p, what);
      const { outcome, written } = await within(transfer(root, sent), 5000, what);
      if (!damage) {
        assert.ok("value" in outcome, `${"error" in outcome ? outcome.error : ""}: ${what}`);
        assert.equal(outcome.value.files, asked.length, what);
        for (const id of asked) {
          const data = written.filter((p) => p.type === DATA && p.id === id);
          assert.deepEqual(concat(...data.map((p) => p.data)), ids[id], what);
          assert.equal(data.at(-1)?.data.length, 0, what);
        }
        assert.equal(written.at(-1)?.type, FIN, what);
        continue;
      }
      if ("error" in outcome) {
        assert.ok(outcome.error instanceof SyncError, `rejected with ${outcome.error}: ${what}`);
        let malformed = false;
        try {
          referenceFields(sent[at]!);
        } catch {
          malformed = true;
        }
        if (malformed) assert.match(outcome.error.message, /^malformed packet/, what);
        failed++;
      } else {
        assert.equal(written.at(-1)?.type, FIN, what);
      }
    }
    assert.ok(failed > 0, "no damaged packet failed");
    // ERR carries the engine's message; STAT from the receiver is refused.
    const err = await transfer(root, [packet(ERR, 0, "disk full")]);
    assert.ok("error" in err.outcome && err.outcome.error instanceof SyncError);
    assert.match((err.outcome.error as Error).message, /disk full/);
    const stat = await transfer(root, [packet(STAT)]);
    assert.ok("error" in stat.outcome && stat.outcome.error instanceof SyncError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// SSH agent messages (relayAgent)

Deno.test("relayAgent takes a message sent in many small pieces in linear time", async () => {
  // The largest message, 256 KiB, in 2-byte pieces: joining the buffer on
  // every piece copied 16 GiB (about 2 s here; 0.1 s without the copies).
  const size = 256 * 1024;
  const pieces = async function* () {
    const head = new Uint8Array(5);
    new DataView(head.buffer).setUint32(0, size);
    head[4] = 11; // REQUEST_IDENTITIES: relayed once whole.
    yield head;
    for (let at = 1; at < size; at += 2) yield new Uint8Array(Math.min(2, size - at));
  };
  const started = performance.now();
  const outcome = await settle(
    relayAgent(pieces(), "/nonexistent/agent.sock", () => Promise.resolve()),
  );
  const took = performance.now() - started;
  // Whole, it was relayed: to an agent that is not there.
  assert.ok("error" in outcome && outcome.error instanceof AgentRelayError);
  assert.match((outcome.error as Error).message, /Cannot reach the SSH agent/);
  assert.ok(took < 1000, `took ${took} ms`);
});

Deno.test("relayAgent refuses random agent message framing with AgentRelayError only", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0xa9e);
  for (let index = 0; index < fuzzCases(300); index++) {
    // Types the relay refuses (answered FAILURE without the agent), then damage.
    const messages: Uint8Array[] = [];
    for (let n = 1 + random.int(4); n > 0; n--) {
      const contents = random.bytes(random.int(50));
      const message = new Uint8Array(5 + contents.length);
      new DataView(message.buffer).setUint32(0, 1 + contents.length);
      message[4] = random.pick([1, 17, 18, 19, 25, 27]);
      message.set(contents, 5);
      messages.push(message);
    }
    const valid = concat(...messages);
    const bytes = random.int(2) ? mutate(random, valid, [0x00, 0x01, 0x0b, 0x0d, 0xff]) : valid;
    const what = describe(seed, index, bytes);
    const answers: Uint8Array[] = [];
    const pieces = async function* () {
      yield* randomSplit(random, bytes, 10);
    };
    const outcome = await within(
      settle(relayAgent(pieces(), "/nonexistent/agent.sock", (b) => {
        answers.push(b);
        return Promise.resolve();
      })),
      2000,
      what,
    );
    if ("error" in outcome) {
      assert.ok(outcome.error instanceof AgentRelayError, `${outcome.error}: ${what}`);
    } else {
      assert.ok(answers.every((a) => a.toHex() === "0000000105"), what);
    }
    if (bytes === valid) assert.ok("value" in outcome && answers.length > 0, what);
  }
});
