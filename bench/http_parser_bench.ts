/**
 * Parser benchmarks: a chunked HTTP body of Docker frames, decoded by a
 * naive copy-everything parser (the baseline) and by berth's
 * `ChunkedDecoder` + `FrameDecoder` (views, copies only for frames split
 * across reads).
 *
 * - `parse-64MiB`: 4096 frames of 16 KiB (64 MiB of payload), one frame per
 *   chunk, stdout and stderr alternating, split into 64 KiB reads.
 * - `small-frames`: one million 40-byte lines, one frame per chunk (like
 *   `docker logs` replaying line by line), split into 64 KiB reads.
 *
 * Run: `deno bench bench/http_parser_bench.ts`. Throughput in GB/s:
 * `deno run bench/http_parser_throughput.ts` (same fixtures and contenders).
 *
 * @module
 */

import { berth, buildFixture, naive } from "./_http_parser_fixtures.ts";

const large = buildFixture(4096, 16 * 1024);
const small = buildFixture(1_000_000, 40);

for (const [group, fixture] of [["parse-64MiB", large], ["small-frames", small]] as const) {
  Deno.bench({ group, name: "naive: concat then parse", baseline: true, fn: () => naive(fixture) });
  Deno.bench({ group, name: "berth: ChunkedDecoder + FrameDecoder", fn: () => berth(fixture) });
}
