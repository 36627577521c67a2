/**
 * Fixtures and contenders shared by the parser benchmarks: a chunked body
 * of Docker frames cut into socket-sized pieces, a naive concat-then-parse
 * baseline, and berth's decoders.
 *
 * @module
 */

import { ChunkedDecoder } from "../src/http/chunked.ts";
import { type Frame, FrameDecoder } from "../src/stream/demux.ts";

export const READ_SIZE = 64 * 1024;
export const LF = 10;

export interface Fixture {
  /** The body as socket reads would hand it over. */
  pieces: Uint8Array[];
  stdout: number;
  stderr: number;
}

/** Builds a chunked body of `count` frames of `size` bytes, one per chunk, split into reads. */
export function buildFixture(count: number, size: number): Fixture {
  const frameSize = 8 + size;
  const sizeLine = new TextEncoder().encode(`${frameSize.toString(16)}\r\n`);
  const chunkSize = sizeLine.length + frameSize + 2;
  const body = new Uint8Array(count * chunkSize + 5);
  let stdout = 0;
  let stderr = 0;
  let offset = 0;
  for (let n = 0; n < count; n++) {
    body.set(sizeLine, offset);
    offset += sizeLine.length;
    const stream = n % 2 === 0 ? 1 : 2;
    body[offset] = stream;
    new DataView(body.buffer).setUint32(offset + 4, size);
    // Printable payload ending in a newline, different per frame.
    for (let i = 0; i < size - 1; i++) body[offset + 8 + i] = 33 + ((n + i) % 90);
    body[offset + 8 + size - 1] = LF;
    offset += frameSize;
    body[offset++] = 13;
    body[offset++] = LF;
    if (stream === 1) stdout += size;
    else stderr += size;
  }
  body.set(new TextEncoder().encode("0\r\n\r\n"), offset);
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < body.length; start += READ_SIZE) {
    pieces.push(body.subarray(start, start + READ_SIZE));
  }
  return { pieces, stdout, stderr };
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function check(fixture: Fixture, stdout: number, stderr: number): void {
  if (stdout !== fixture.stdout || stderr !== fixture.stderr) {
    throw new Error(
      `Wrong totals: ${stdout}/${stderr}, expected ${fixture.stdout}/${fixture.stderr}`,
    );
  }
}

/** The baseline: concatenate, de-chunk by copying each chunk, concatenate, demux by copying each frame. */
export function naive(fixture: Fixture): void {
  const body = concat(fixture.pieces);
  const chunks: Uint8Array[] = [];
  let i = 0;
  while (true) {
    // Plain hex parse: the baseline pays for copies, not for a slow size line.
    let size = 0;
    for (; body[i] !== 13; i++) size = size * 16 + parseInt(String.fromCharCode(body[i]!), 16);
    i += 2;
    if (size === 0) break;
    chunks.push(body.slice(i, i + size));
    i += size + 2;
  }
  const data = concat(chunks);
  const view = new DataView(data.buffer);
  let stdout = 0;
  let stderr = 0;
  for (let j = 0; j < data.length;) {
    const size = view.getUint32(j + 4);
    const payload = data.slice(j + 8, j + 8 + size);
    if (data[j] === 1) stdout += payload.length;
    else stderr += payload.length;
    j += 8 + size;
  }
  check(fixture, stdout, stderr);
}

/** berth: every read through the chunked decoder, every payload view through the frame decoder. */
export function berth(fixture: Fixture): void {
  const chunked = new ChunkedDecoder();
  const frames = new FrameDecoder();
  const views: Uint8Array[] = [];
  const out: Frame[] = [];
  let stdout = 0;
  let stderr = 0;
  for (const piece of fixture.pieces) {
    views.length = 0;
    chunked.decode(piece, views);
    for (const view of views) {
      out.length = 0;
      frames.push(view, out);
      for (const frame of out) {
        if (frame.stream === "stdout") stdout += frame.data.length;
        else stderr += frame.data.length;
      }
    }
  }
  frames.finish();
  if (!chunked.done) throw new Error("Chunked body did not end");
  check(fixture, stdout, stderr);
}
