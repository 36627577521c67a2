/**
 * Seeded fuzz tests of `parseHead` and `bodyFraming`: random valid heads
 * must read exactly, every prefix as incomplete; damaged heads must agree
 * with the RFC 9112 reference in `_reference.ts` and throw only
 * `DockerProtocolError`. A failure names the seed (`BERTH_FUZZ_SEED`), the
 * case and the input, so it reproduces; `BERTH_FUZZ_CASES` runs more cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import {
  type BodyFraming,
  bodyFraming,
  type HeadLimits,
  parseHead,
} from "../../src/http/response_head.ts";
import { describeError, escaped, fuzzCase, fuzzCases, type Random } from "../_fuzz.ts";
import {
  damage,
  DEFAULT_LIMITS,
  generateResponse,
  NOT_OWS,
  randomCase,
} from "./_fuzz_responses.ts";
import {
  bytesOf,
  joinFields,
  latin1,
  referenceFraming,
  referenceHead,
  type RefHead,
} from "./_reference.ts";

/**
 * Asserts that `parseHead` on the first `length` bytes of a head (either
 * way the exchange calls it) says `undefined`, and throws nothing.
 *
 * @param random The case's random source.
 * @param bytes The head and what follows.
 * @param limits Head limits.
 * @param length How many bytes to parse.
 * @param where The case, for messages.
 */
function assertIncomplete(
  random: Random,
  bytes: Uint8Array,
  limits: HeadLimits,
  length: number,
  where: string,
): void {
  let result;
  try {
    result = random.next() < 0.5
      ? parseHead(bytes, limits, length)
      : parseHead(bytes.subarray(0, length), limits);
  } catch (error) {
    assert.fail(`${where}: the first ${length} bytes threw ${describeError(error)}`);
  }
  assert.equal(result, undefined, `${where}: the first ${length} bytes gave a head`);
}

/**
 * Asserts that a head `parseHead` returned matches the reference's: status,
 * reason, size, fields (by `toObject` and `get` in random case), framing.
 */
function checkHead(
  random: Random,
  bytes: Uint8Array,
  limits: HeadLimits,
  want: RefHead,
  method: string,
  where: string,
): void {
  const head = parseHead(bytes, limits);
  assert.ok(head !== undefined, `${where}: parseHead said the head is incomplete`);
  assert.equal(head.status, want.status, `${where}: status`);
  assert.equal(head.statusText, want.reason, `${where}: reason`);
  assert.equal(head.size, want.end, `${where}: size`);
  const fields = joinFields(want.fields);
  assert.deepEqual(head.headers.toObject(), fields, `${where}: fields`);
  for (const [name, value] of Object.entries(fields)) {
    assert.equal(head.headers.get(randomCase(random, name)), value, `${where}: get(${name})`);
  }
  assert.equal(head.headers.get("x-not-sent-by-fuzz"), null, `${where}: get of an absent field`);
  const framing = referenceFraming(want, method);
  let got: BodyFraming | undefined;
  try {
    got = bodyFraming(head, method);
  } catch (error) {
    assert.ok(
      error instanceof DockerProtocolError,
      `${where}: bodyFraming threw ${describeError(error)}`,
    );
    assert.equal(
      framing.kind,
      "error",
      `${where}: bodyFraming threw ${describeError(error)}, want ${JSON.stringify(framing)}`,
    );
    return;
  }
  assert.deepEqual(got, framing, `${where}: framing`);
}

Deno.test("parseHead and bodyFraming read random valid heads exactly, and say undefined for every prefix", () => {
  const name = "parseHead valid";
  for (let index = 0; index < fuzzCases(400); index++) {
    const { random, label } = fuzzCase(3, index, name);
    const generated = generateResponse(random, 256);
    // The final head, after any interim ones.
    const bytes = generated.wire.subarray(generated.headAt);
    const size = generated.headEnd - generated.headAt;
    const limits = { maxHeaderSize: Infinity, maxHeaderCount: Math.max(256, generated.fieldCount) };
    const where = `${label}: head ${escaped(bytes.subarray(0, size))}`;
    // Every prefix of a short head, a sample of a long one's.
    const step = Math.max(1, Math.floor(size / 400));
    for (let length = random.int(step); length < size; length += step) {
      assertIncomplete(random, bytes, limits, length, where);
    }
    const want = referenceHead(latin1(bytes), 0, limits);
    assert.ok("status" in want, `${where}: the reference rejects a generated head`);
    assert.equal(want.status, generated.status, `${where}: reference status`);
    assert.deepEqual(want.fields, generated.fields, `${where}: reference fields`);
    checkHead(random, bytes, limits, want, generated.method, where);
    const head = parseHead(bytes, limits)!;
    assert.equal(head.statusText, generated.reason, `${where}: reason`);
    const framing = bodyFraming(head, generated.method);
    assert.equal(framing.kind, generated.framing, `${where}: framing`);
    if (framing.kind === "length") assert.equal(framing.length, generated.body.length, where);
  }
});

Deno.test("parseHead agrees with the reference on damaged heads and throws only DockerProtocolError", () => {
  const name = "parseHead damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(4, index, name);
    const generated = generateResponse(random, 256);
    const limits = random.next() < 0.5
      ? DEFAULT_LIMITS
      : { maxHeaderSize: Infinity, maxHeaderCount: 1 + random.int(12) };
    const [bytes, how] = damage(random, generated, { ...limits, maxHeaderSize: 1024 });
    const where = `${label}: ${how}: input ${escaped(bytes)}`;
    const referenceLimits = { ...limits, maxHeaderSize: Infinity };
    const want = referenceHead(latin1(bytes), 0, referenceLimits);
    let threw: unknown;
    let head;
    try {
      head = parseHead(bytes, limits);
    } catch (error) {
      threw = error;
    }
    if (threw !== undefined) {
      assert.ok(threw instanceof DockerProtocolError, `${where}: threw ${describeError(threw)}`);
      // Thrown early (before the empty line) only for what is wrong already.
      assert.ok(!("status" in want), `${where}: threw ${describeError(threw)} for a valid head`);
      continue;
    }
    if ("incomplete" in want) {
      assert.equal(head, undefined, `${where}: a head without an empty line`);
      continue;
    }
    assert.ok(
      !("error" in want),
      `${where}: accepted, but the reference says ${JSON.stringify(want)}`,
    );
    checkHead(random, bytes, limits, want, generated.method, where);
    // Split anywhere: every prefix is incomplete, never an error.
    for (let n = 0; n < 6; n++) {
      assertIncomplete(random, bytes, limits, random.int(want.end), where);
    }
  }
});

Deno.test("bodyFraming trims only spaces and tabs around Content-Length and Transfer-Encoding values", () => {
  for (const [fields, code] of NOT_OWS) {
    const head = parseHead(bytesOf(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`), DEFAULT_LIMITS)!;
    assert.throws(() => bodyFraming(head, "GET"), (error) => {
      assert.ok(error instanceof DockerProtocolError, describeError(error));
      assert.equal(error.code, code, JSON.stringify(fields));
      return true;
    });
  }
  const framing = (fields: string) =>
    bodyFraming(parseHead(bytesOf(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`), DEFAULT_LIMITS)!, "GET");
  assert.deepEqual(framing("Content-Length: 2 ,\t2 "), { kind: "length", length: 2 });
  assert.deepEqual(framing("Transfer-Encoding:\t chunked \t"), { kind: "chunked" });
});
