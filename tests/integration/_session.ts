/**
 * Helpers for the attach and exec tests, on this thread and in a worker:
 * read a session's stdout up to a condition, write stdin in pieces, abort
 * a session mid-output.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Frame } from "../../mod.ts";
import { concat } from "../_fake_engine.ts";

/**
 * Reads frames until `done(stdout so far)` holds or the stream ends; keeps the reader usable.
 *
 * @param reader The session's output reader.
 * @param done When to stop.
 * @returns Stdout so far.
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Frame>,
  done: (stdout: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let stdout: Uint8Array = new Uint8Array(0);
  while (!done(stdout)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    if (value.stream === "stdout") {
      parts.push(value.data.slice());
      stdout = concat(parts);
    }
  }
  return stdout;
}

/**
 * Reads WebSocket payloads until their text contains `wanted` or the
 * stream ends; keeps the reader usable.
 *
 * @param reader The session's output reader.
 * @param wanted The text to wait for.
 * @returns The text read.
 */
export async function readUntilText(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  wanted: string,
): Promise<string> {
  const parts: Uint8Array[] = [];
  const text = () => new TextDecoder().decode(concat(parts));
  while (!text().includes(wanted)) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value.slice());
  }
  return text();
}

/**
 * Writes `bytes` in pieces of at most 64 KiB.
 *
 * @param session Anything with a stdin `writable`.
 * @param bytes What to write.
 * @returns The writer, still locked (close it to send EOF).
 */
export async function writeAll(
  session: { writable: WritableStream<Uint8Array> },
  bytes: Uint8Array,
): Promise<WritableStreamDefaultWriter<Uint8Array>> {
  const writer = session.writable.getWriter();
  for (let offset = 0; offset < bytes.length; offset += 65_536) {
    await writer.write(bytes.subarray(offset, offset + 65_536));
  }
  return writer;
}

/**
 * Reads a session's output and aborts `controller` at its second frame;
 * checks that the read loop and a later stdin write both reject with the
 * abort's reason, and that no frame came after it.
 *
 * @param session The open session (its output must keep coming).
 * @param controller The controller of the signal the session was opened with.
 */
export async function abortAtSecondFrame(
  session: { readable: ReadableStream<unknown>; writable: WritableStream<Uint8Array> },
  controller: AbortController,
): Promise<void> {
  let frames = 0;
  const reading = (async () => {
    for await (const _ of session.readable) {
      if (++frames === 2) controller.abort(new Error("user abort"));
    }
  })();
  await assert.rejects(reading, (error) => error === controller.signal.reason);
  assert.equal(frames, 2);
  await assert.rejects(
    session.writable.getWriter().write(new TextEncoder().encode("late\n")),
    (error) => error === controller.signal.reason,
  );
}
