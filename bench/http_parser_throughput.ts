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

import { berth, buildFixture, naive } from "./_http_parser_fixtures.ts";

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
