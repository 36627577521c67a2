/**
 * Seeded fuzz tests of the protobuf Reader and Writer (`_protobuf.ts`) the
 * BuildKit session decodes engine bytes with: random messages must read
 * back exactly; damaged ones must fail with `ProtobufError` where the
 * reference reader in `_protobuf_reference.ts` fails, and read the same
 * where it reads them; hostile varints and lengths must fail fast.
 * `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a
 * failure or run longer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fields, ProtobufError, Reader, Writer } from "../../src/build/_protobuf.ts";
import { fuzzCases, fuzzSource, hexCase, mutate, type Random } from "../_fuzz.ts";
import { concat } from "../http2/_client.ts";
import {
  key,
  Malformed,
  randomInt64,
  randomText,
  referenceFields,
  varint,
  walk,
} from "./_protobuf_reference.ts";

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
  const { seed, random } = fuzzSource();
  for (let index = 0; index < fuzzCases(1000); index++) {
    const message = randomMessage(random, 3);
    const bytes = encodeMessage(message);
    const what = hexCase(seed, index, bytes);
    checkMessage(new Reader(bytes), message, what);
    // The reference reads the same top-level fields.
    const reference = referenceFields(bytes);
    assert.deepEqual(reference.map(([field]) => field), message.map((f) => f.field), what);
    // Skipping everything consumes everything.
    fields(new Reader(bytes), {}, () => assert.fail("no field is known"));
  }
});

Deno.test("Reader fails damaged and random messages with ProtobufError, as the reference does", () => {
  const { seed, random } = fuzzSource(0x9b);
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
    const what = hexCase(seed, index, bytes);
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
