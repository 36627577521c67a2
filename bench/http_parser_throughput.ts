/**
 * Throughput of the parser benchmark's contenders (see
 * `bench/http_parser_bench.ts`, whose fixtures and contenders this repeats):
 * each runs several times per group, timed with `performance.now()`, and
 * the median and best rates are printed in MB/s and GB/s (decimal: 1 GB =
 * 10^9 bytes) of wire bytes, the whole chunked body as read from the
 * socket, alongside the payload rate.
 *
 * Run: `deno run bench/http_parser_throughput.ts [runs]` (default 10 runs
 * of berth, fewer of the slow baseline).
 *
 * @module
 */

import { ChunkedDecoder } from "../src/http/chunked.ts";
import { type Frame, FrameDecoder } from "../src/stream/demux.ts";

const READ_SIZE = 64 * 1024;
const LF = 10;

interface Fixture {
  /** The body as socket reads would hand it over. */
  pieces: Uint8Array[];
  stdout: number;
  stderr: number;
}

/** Builds a chunked body of `count` frames of `size` bytes, one per chunk, split into reads. */
function buildFixture(count: number, size: number): Fixture {
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

function concat(parts: Uint8Array[]): Uint8Array {
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

function check(fixture: Fixture, stdout: number, stderr: number): void {
  if (stdout !== fixture.stdout || stderr !== fixture.stderr) {
    throw new Error(
      `Wrong totals: ${stdout}/${stderr}, expected ${fixture.stdout}/${fixture.stderr}`,
    );
  }
}

/** The baseline: concatenate, de-chunk by copying each chunk, concatenate, demux by copying each frame. */
function naive(fixture: Fixture): void {
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
function berth(fixture: Fixture): void {
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

interface Rates {
  medianMs: number;
  bestMs: number;
}

function measure(fn: () => void, runs: number): Rates {
  fn(); // warm up (and check totals)
  fn();
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)]!, bestMs: times[0]! };
}

function rate(bytes: number, ms: number): string {
  const perSecond = bytes / (ms / 1000);
  const mb = (perSecond / 1e6).toFixed(0).padStart(6);
  const gb = (perSecond / 1e9).toFixed(2).padStart(5);
  return `${mb} MB/s = ${gb} GB/s`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

const runs = Number(Deno.args[0] ?? 10);
const groups = [
  ["parse-64MiB (4096 x 16 KiB frames)", buildFixture(4096, 16 * 1024)],
  ["small-frames (1,000,000 x 40 B frames)", buildFixture(1_000_000, 40)],
] as const;
for (const [group, fixture] of groups) {
  const wire = fixture.pieces.reduce((sum, piece) => sum + piece.length, 0);
  const payload = fixture.stdout + fixture.stderr;
  const reads = fixture.pieces.length;
  console.log(`\n${group}: ${mib(wire)} on the wire, ${mib(payload)} payload, ${reads} reads`);
  const results: [string, Rates][] = [
    ["naive: concat then parse", measure(() => naive(fixture), Math.max(3, Math.ceil(runs / 3)))],
    ["berth: ChunkedDecoder + FrameDecoder", measure(() => berth(fixture), runs)],
  ];
  for (const [name, { medianMs, bestMs }] of results) {
    const median = `median ${medianMs.toFixed(1).padStart(7)} ms`;
    const rates = `wire ${rate(wire, medianMs)}  payload ${rate(payload, medianMs)}`;
    console.log(`  ${name.padEnd(38)} ${median}  ${rates}  (best: wire ${rate(wire, bestMs)})`);
  }
  const ratio = results[0]![1].medianMs / results[1]![1].medianMs;
  console.log(`  berth: ${ratio.toFixed(1)}x the baseline's throughput (median)`);
}
