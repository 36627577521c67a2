/**
 * Helpers for the attach tests, on this thread and in a worker: read a
 * session's stdout up to a condition, write stdin in pieces.
 *
 * @module
 */

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
