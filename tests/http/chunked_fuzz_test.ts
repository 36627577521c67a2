/**
 * Seeded fuzz tests of `ChunkedDecoder`: random valid chunked bodies, split
 * anywhere, must decode exactly; damaged ones must agree with the RFC 9112
 * reference in `_reference.ts`, however they are split. A failure names the
 * seed (`BERTH_FUZZ_SEED`), the case and the input, so it reproduces;
 * `BERTH_FUZZ_CASES` runs more cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { ChunkedDecoder } from "../../src/http/chunked.ts";
import { concat } from "../_fake_engine.ts";
import {
  cutsOf,
  cutUp,
  DELIMITERS,
  describeError,
  escaped,
  fuzzCase,
  fuzzCases,
  mutate,
  sameBytes,
} from "../_fuzz.ts";
import { chunkedBody, randomBody, randomHex } from "./_fuzz_responses.ts";
import { bytesOf, latin1, MAX_CHUNK_LINE, MAX_TRAILERS, referenceChunked } from "./_reference.ts";

/** What the decoder made of some pieces. */
type Decoded =
  | { error: unknown }
  | { done: boolean; payload: Uint8Array; consumed: number };

/**
 * Feeds `pieces` to a new decoder until it is done or fails; pieces after
 * the end must be refused (0 consumed).
 */
function decodeAll(pieces: Uint8Array[]): Decoded {
  const decoder = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  let consumed = 0;
  try {
    for (const piece of pieces) {
      const before = out.length;
      const n = decoder.decode(piece, out);
      for (const part of out.slice(before)) {
        assert.ok(
          part.length > 0 && part.buffer === piece.buffer,
          "payload is a non-empty view of the input",
        );
      }
      if (!decoder.done) assert.equal(n, piece.length, "every byte consumed before the end");
      consumed += n;
    }
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    let again: unknown;
    try {
      decoder.decode(new Uint8Array([48]), []);
    } catch (later) {
      again = later;
    }
    assert.equal(again, error, "a failed decoder throws the same error again");
    return { error };
  }
  return { done: decoder.done, payload: concat(out), consumed };
}

Deno.test("ChunkedDecoder decodes random valid chunked bodies split anywhere exactly", () => {
  const name = "ChunkedDecoder valid";
  for (let index = 0; index < fuzzCases(800); index++) {
    const { random, label } = fuzzCase(1, index, name);
    const body = randomBody(random);
    const [encoded] = chunkedBody(random, body);
    const next = random.next() < 0.5 ? "HTTP/1.1 200 OK\r\n" : "";
    const input = bytesOf(encoded + next);
    const pieces = cutUp(random, input);
    const where = `${label}: input ${escaped(input)} cut at ${cutsOf(pieces)}`;
    const result = decodeAll(pieces);
    assert.ok(
      !("error" in result),
      `${where}: ${"error" in result ? describeError(result.error) : ""}`,
    );
    assert.ok(result.done, `${where}: not done`);
    assert.equal(result.consumed, encoded.length, `${where}: consumed`);
    assert.ok(sameBytes(result.payload, bytesOf(body)), `${where}: payload differs`);
  }
});

Deno.test("ChunkedDecoder agrees with the reference on damaged bodies, however they are split", () => {
  const name = "ChunkedDecoder damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(2, index, name);
    const body = latin1(random.bytes(random.int(300)));
    let [encoded, sizes] = chunkedBody(random, body);
    if (random.next() < 0.15 && sizes.length > 0) {
      const [from, to] = random.pick(sizes);
      encoded = encoded.slice(0, from) + randomHex(random, 12 + random.int(8)) + encoded.slice(to);
    }
    if (random.next() < 0.02) {
      // Trailers or extensions around their limits.
      encoded = random.next() < 0.5
        ? `0\r\nX: ${"t".repeat(MAX_TRAILERS - 6 + random.int(5))}\r\n\r\n`
        : `1;${"e".repeat(MAX_CHUNK_LINE - 3 + random.int(4))}\r\nz\r\n0\r\n\r\n`;
    }
    const input = random.next() < 0.1
      ? bytesOf(encoded)
      : mutate(random, bytesOf(encoded), DELIMITERS);
    const pieces = cutUp(random, input);
    const where = `${label}: input ${escaped(input)} cut at ${cutsOf(pieces)}`;
    const want = referenceChunked(latin1(input), 0);
    const got = decodeAll(pieces);
    if ("error" in want || "error" in got) {
      assert.ok(
        "error" in want && "error" in got,
        `${where}: reference says ${JSON.stringify(want)}, decoder ${
          "error" in got ? describeError(got.error) : "decoded it"
        }`,
      );
      assert.ok(got.error instanceof DockerProtocolError, `${where}: ${describeError(got.error)}`);
      continue;
    }
    assert.equal(got.done, want.done, `${where}: done`);
    assert.ok(sameBytes(got.payload, bytesOf(want.payload)), `${where}: payload differs`);
    assert.equal(got.consumed, want.done ? want.end : input.length, `${where}: consumed`);
  }
});
