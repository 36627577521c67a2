/**
 * Seeded fuzz tests of the JSON lines decoder (`JsonLinesDecoder`,
 * `jsonLinesStream`). Random valid lines, split at random offsets (multi-
 * byte characters cut too), must decode exactly; damaged ones must fail as
 * the reference here says, with a `DockerError` subclass, the same whatever
 * the split.
 *
 * A failure names the seed, the case and its input: rerun with
 * `BERTH_FUZZ_SEED=<seed>` to reproduce it, `BERTH_FUZZ_CASES=<n>` for n
 * times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError, DockerStreamError } from "../../src/errors.ts";
import { JsonLinesDecoder, jsonLinesStream } from "../../src/stream/json_lines.ts";
import {
  assertTyped,
  describeError,
  fuzz,
  fuzzCases,
  mutate,
  type Random,
  randomPieces,
} from "../_fuzz.ts";
import { randomString } from "./_fuzz_text.ts";
import { countingSource } from "./_helpers.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Bytes JSON lines are made of, for {@linkcode mutate}. */
const JSON_BYTES = [10, 13, 32, 34, 44, 48, 58, 91, 92, 93, 123, 125, 0xc3, 0xa9, 0xf0, 0x9f];

function randomValue(random: Random, depth = 0): unknown {
  switch (random.int(depth > 2 ? 4 : 6)) {
    case 0:
      return randomString(random);
    case 1:
      return random.next() < 0.5 ? random.int(2_000_000) - 1_000_000 : random.int(1e9) / 7;
    case 2:
      return random.next() < 0.5;
    case 3:
      return null;
    case 4:
      return Array.from({ length: random.int(4) }, () => randomValue(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let n = random.int(4); n > 0; n--) {
        object[`k${randomString(random)}`] = randomValue(random, depth + 1);
      }
      return object;
    }
  }
}

/** A progress-like line value (never an error line). */
function randomLine(random: Random): unknown {
  if (random.next() < 0.3) return randomValue(random);
  const value: Record<string, unknown> = { status: randomString(random) };
  if (random.next() < 0.5) value.id = randomString(random);
  if (random.next() < 0.5) {
    value.progressDetail = { current: random.int(1e6), total: 1e6 };
  }
  if (random.next() < 0.3) value.nested = randomValue(random, 1);
  return value;
}

interface JsonPlan {
  bytes: Uint8Array;
  values: unknown[];
  /** The error line's message and detail, when the plan has one. */
  failure?: {
    message: string;
    detail: { code?: number; message?: string } | undefined;
    /** The error line's value, for `errorLines: false`. */
    value: unknown;
  };
}

/** Random lines: LF or CRLF, blank lines, padding, maybe a last line without newline or an error line. */
function randomJsonLines(random: Random): JsonPlan {
  const values: unknown[] = [];
  let text = "";
  let failure: JsonPlan["failure"];
  const count = random.int(10);
  for (let i = 0; i < count && failure === undefined; i++) {
    for (let n = random.int(3) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
      text += random.pick(["", "\r", " ", "\t \r"]) + "\n";
    }
    let line: string;
    if (random.next() < 0.08) {
      const message = randomString(random);
      const shape = random.int(3);
      if (shape === 0) {
        const value = { error: message };
        failure = { message, detail: undefined, value };
      } else if (shape === 1) {
        const detail = { code: 1, message };
        failure = { message, detail, value: { errorDetail: detail, error: `${message}!` } };
      } else {
        const detail = { code: 7 };
        const value = { errorDetail: detail };
        failure = { message: "Engine reported an error without a message", detail, value };
      }
      line = JSON.stringify(failure.value);
    } else {
      const value = randomLine(random);
      values.push(value);
      line = JSON.stringify(value);
    }
    if (random.next() < 0.2) line = ` ${line}\t`;
    const last = i === count - 1 || failure !== undefined;
    text += line + (last && random.next() < 0.3 ? "" : random.pick(["\n", "\r\n"]));
  }
  return { bytes: encoder.encode(text), values, ...(failure ? { failure } : {}) };
}

/** What a whole-buffer decoder makes of `bytes`, following the documented rules. */
function referenceJsonLines(
  bytes: Uint8Array,
  maxLineSize: number,
  errorLines: boolean,
): { values: unknown[]; error: string } {
  const values: unknown[] = [];
  const decoder = new TextDecoder();
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end === -1) end = bytes.length;
    const line = bytes.subarray(start, end);
    start = end + 1;
    if (line.length > maxLineSize) return { values, error: "DockerProtocolError:LINE_TOO_LONG" };
    const content = line.at(-1) === 13 ? line.subarray(0, -1) : line;
    if (content.length === 0) continue;
    const text = decoder.decode(content);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (text.trim() === "") continue;
      return { values, error: "DockerProtocolError:INVALID_JSON" };
    }
    if (errorLines && typeof value === "object" && value !== null) {
      const { error, errorDetail } = value as { error?: unknown; errorDetail?: unknown };
      const detail = typeof errorDetail === "object" && errorDetail !== null
        ? errorDetail as { message?: unknown }
        : undefined;
      if (typeof error === "string" || detail) {
        const message = typeof detail?.message === "string"
          ? detail.message
          : typeof error === "string"
          ? error
          : "Engine reported an error without a message";
        return { values, error: `DockerStreamError::${message}` };
      }
    }
    values.push(value);
  }
  return { values, error: "none" };
}

/** Decodes `parts`; the error as `Name:code` (`Name::message` for a stream error). */
function decodeJsonLines(
  parts: Uint8Array[],
  maxLineSize: number,
  errorLines: boolean,
): { values: unknown[]; error: string; thrown: unknown } {
  const decoder = new JsonLinesDecoder({ maxLineSize, errorLines });
  const values: unknown[] = [];
  try {
    for (const part of parts) decoder.push(part, values);
    decoder.finish(values);
  } catch (thrown) {
    assertTyped(thrown, "JsonLinesDecoder");
    assert.throws(() => decoder.push(EMPTY, []), (again) => again === thrown);
    const error = thrown instanceof DockerProtocolError
      ? `DockerProtocolError:${thrown.code}`
      : thrown instanceof DockerStreamError
      ? `DockerStreamError::${thrown.message}`
      : describeError(thrown);
    return { values, error, thrown };
  }
  return { values, error: "none", thrown: undefined };
}

Deno.test("JsonLinesDecoder decodes random valid lines split anywhere, multi-byte characters included, exactly", async () => {
  await fuzz(fuzzCases(500), (random, note) => {
    const plan = randomJsonLines(random);
    note(plan.bytes);
    const errorLines = random.next() < 0.85;
    // Split byte by byte now and then, so that every multi-byte character is cut.
    const parts = random.next() < 0.1 && plan.bytes.length < 400
      ? Array.from(plan.bytes, (_, i) => plan.bytes.subarray(i, i + 1))
      : randomPieces(random, plan.bytes);
    const { values, error, thrown } = decodeJsonLines(parts, 16_777_216, errorLines);
    if (plan.failure && errorLines) {
      assert.deepEqual(values, plan.values);
      assert.ok(thrown instanceof DockerStreamError, `expected DockerStreamError, got ${error}`);
      assert.equal(thrown.message, plan.failure.message);
      assert.deepEqual(thrown.detail, plan.failure.detail);
    } else {
      assert.equal(error, "none");
      assert.deepEqual(values, plan.failure ? [...plan.values, plan.failure.value] : plan.values);
    }
  });
});

Deno.test("JsonLinesDecoder fails damaged lines with DockerError subclasses only, the same whatever the split", async () => {
  await fuzz(fuzzCases(600), (random, note) => {
    const plan = randomJsonLines(random);
    const bytes = random.next() < 0.15
      ? random.bytes(random.int(300))
      : mutate(random, plan.bytes, JSON_BYTES);
    note(bytes);
    const maxLineSize = random.pick([0, 1, 40, 200, 16_777_216, 16_777_216]);
    const errorLines = random.next() < 0.85;
    const got = decodeJsonLines(randomPieces(random, bytes), maxLineSize, errorLines);
    const expected = referenceJsonLines(bytes, maxLineSize, errorLines);
    assert.equal(got.error, expected.error);
    assert.deepEqual(got.values, expected.values);
  });
});

Deno.test("JsonLinesDecoder fails an endless line at maxLineSize, on the push that crosses it", async () => {
  await fuzz(fuzzCases(100), (random, note) => {
    const maxLineSize = 1 + random.int(5000);
    const chunk = encoder.encode("x".repeat(1 + random.int(700)));
    note(chunk);
    const decoder = new JsonLinesDecoder({ maxLineSize });
    let total = 0;
    while (total + chunk.length <= maxLineSize) {
      decoder.push(chunk, []);
      total += chunk.length;
    }
    assert.throws(() => decoder.push(chunk, []), (error) => {
      assert.ok(error instanceof DockerProtocolError);
      assert.equal(error.code, "LINE_TOO_LONG");
      return true;
    });
  });
  // The default limit (16 MiB): the 17th MiB fails, and nothing beyond it is held.
  const decoder = new JsonLinesDecoder();
  const mebibyte = new Uint8Array(1 << 20).fill(0x20);
  for (let i = 0; i < 16; i++) decoder.push(mebibyte, []);
  assert.throws(
    () => decoder.push(mebibyte, []),
    /exceeds 16777216 bytes \(17825792 bytes so far\)/,
  );
});

Deno.test("jsonLinesStream delivers the values before a bad line, then its error, and cancels the source", async () => {
  await fuzz(fuzzCases(100), async (random, note) => {
    const plan = randomJsonLines(random);
    const bytes = random.next() < 0.5 ? plan.bytes : mutate(random, plan.bytes, JSON_BYTES);
    note(bytes);
    const source = countingSource(randomPieces(random, bytes));
    const values: unknown[] = [];
    let thrown: unknown;
    try {
      for await (const value of jsonLinesStream(source.body)) values.push(value);
    } catch (error) {
      thrown = error;
    }
    assertTyped(thrown, "jsonLinesStream");
    const expected = referenceJsonLines(bytes, 16_777_216, true);
    assert.deepEqual(values, expected.values);
    assert.equal(thrown === undefined, expected.error === "none", describeError(thrown));
  });
});
