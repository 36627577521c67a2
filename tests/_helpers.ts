/**
 * Small helpers the test files share: what a call rejected with, protocol
 * error checks, and test payloads.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError, type DockerProtocolErrorCode } from "../src/errors.ts";

/**
 * Resolves with what `promise` rejected with; fails the test when it resolves.
 *
 * @param promise The call expected to fail.
 * @returns Its rejection reason.
 */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

/**
 * Bytes 0..255, then `size` random bytes: every byte value, then bulk.
 *
 * @param size How many random bytes follow the 256.
 * @returns The payload.
 */
export function payload(size: number): Uint8Array {
  const bytes = new Uint8Array(256 + size);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  for (let offset = 256; offset < bytes.length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65_536, bytes.length)));
  }
  return bytes;
}

/**
 * Asserts that `error` is a `DockerProtocolError` with this code.
 *
 * @param error What was thrown.
 * @param code The expected `code`.
 */
export function assertProtocolError(error: unknown, code: DockerProtocolErrorCode): void {
  assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
  assert.equal(error.code, code, error.message);
}
