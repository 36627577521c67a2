/**
 * Seeded fuzz tests of `decodeBuildKitTrace`: random valid StatusResponse
 * records, fields in any order with unknown ones between them, must decode
 * exactly; damaged records (bytes or base64) must fail with
 * `DockerProtocolError` only, and a negative length must not loop.
 * `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a
 * failure or run longer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeBuildKitTrace } from "../../src/build/buildkit_trace.ts";
import type { BuildKitStatus } from "../../src/build/buildkit_trace.ts";
import { ProtobufError, Reader } from "../../src/build/_protobuf.ts";
import { DockerProtocolError } from "../../src/errors.ts";
import { fuzzCases, fuzzSource, hexCase, mutate, type Random, shuffle } from "../_fuzz.ts";
import { utf8 } from "../http2/_client.ts";
import {
  bytesField,
  guard,
  key,
  randomInt64,
  randomText,
  varint,
  varintField,
  walk,
} from "./_protobuf_reference.ts";

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
  const { seed, random } = fuzzSource(0x7ace);
  for (let index = 0; index < fuzzCases(500); index++) {
    const { bytes, expected } = randomStatus(random);
    const what = hexCase(seed, index, bytes);
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
  const { seed, random } = fuzzSource(0xda3);
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
      guard(damaged, hexCase(seed, index, damaged));
    }
    const what = hexCase(seed, index, damaged);
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
