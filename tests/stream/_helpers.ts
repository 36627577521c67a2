/**
 * Helpers shared by the stream decoder tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";

/** Runs `fn`, expecting a DockerProtocolError with `code`; returns it. */
export function fails(fn: () => unknown, code: string): DockerProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DockerProtocolError, `expected ${code}, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** A source of the given pieces that counts pulls and remembers a cancel reason. */
export function countingSource(pieces: Uint8Array[]): {
  body: ReadableStream<Uint8Array>;
  pulls: () => number;
  cancelled: () => unknown;
} {
  let pulls = 0;
  let reason: unknown = "not cancelled";
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[pulls++];
      if (piece === undefined) controller.close();
      else controller.enqueue(piece);
    },
    cancel(why) {
      reason = why;
    },
  }, { highWaterMark: 0 });
  return { body, pulls: () => pulls, cancelled: () => reason };
}
