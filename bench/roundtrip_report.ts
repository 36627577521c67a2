/**
 * Round-trip report against a real engine: sequential `_ping` p50, client
 * CPU per call, and calls/s with 64 requests in flight, for the raw socket
 * floor, fetch and berth — as ratios to the floor measured in one run.
 *
 * Run: `deno run --allow-all bench/roundtrip_report.ts` with
 * `BERTH_TEST_HOST` or `DOCKER_HOST` naming a unix socket (or through
 * `deno task bench`, which provides an engine).
 *
 * @module
 */

import process from "node:process";
import { berthClient, fetchClient, type PingClient, rawClient, socketPath } from "./_roundtrip.ts";
import { median } from "./_stats.ts";

const SEQUENTIAL = Number(Deno.env.get("BERTH_BENCH_CALLS") ?? 3000);
const WARMUP = 300;
const IN_FLIGHT = 64;
const PARALLEL_CALLS = Number(Deno.env.get("BERTH_BENCH_PARALLEL_CALLS") ?? 12800);
/**
 * Interleaved rounds per measurement; each figure is their median. Eight
 * rather than three: on this shared 2-core machine single rounds swing by
 * 20% and more, and a median of three still moved a ratio by ±0.15. Eight
 * is two whole sets of the sequential orders (see `roundOrder`).
 */
const ROUNDS = Number(Deno.env.get("BERTH_BENCH_ROUNDS") ?? 8);

interface Sequential {
  p50: number;
  cpu: number;
}

async function sequential(client: PingClient): Promise<Sequential> {
  for (let i = 0; i < WARMUP; i++) await client.ping();
  const samples = new Float64Array(SEQUENTIAL);
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = performance.now();
    await client.ping();
    samples[i] = performance.now() - start;
  }
  const cpu = process.cpuUsage(cpuStart);
  samples.sort();
  return {
    p50: samples[Math.floor(SEQUENTIAL / 2)]! * 1000,
    cpu: (cpu.user + cpu.system) / SEQUENTIAL,
  };
}

/** `IN_FLIGHT` workers each ping in a loop until `PARALLEL_CALLS` calls are done. */
async function parallel(clients: PingClient[]): Promise<number> {
  let remaining = PARALLEL_CALLS;
  const worker = async (client: PingClient) => {
    while (remaining-- > 0) await client.ping();
  };
  // Warm up every connection.
  await Promise.all(clients.map((c) => c.ping()));
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, (_, i) => worker(clients[i % clients.length]!)),
  );
  return PARALLEL_CALLS / ((performance.now() - start) / 1000);
}

const path = socketPath();
const rows: Array<{ name: string; seq: Sequential; rate: number }> = [];

/**
 * The order of the contenders in a round: a Williams square (for an even
 * count), in which each contender runs right after each other one equally
 * often. It matters: CPU is counted for the whole process, so a round pays
 * for the GC of the garbage the round before it left. A plain rotation
 * keeps the cyclic order (berth ran right after `fetch`, the heaviest
 * producer of garbage, in 5 rounds of 7), which charged `fetch`'s garbage
 * to berth's CPU figure.
 *
 * @param count How many contenders (even).
 * @param round The round.
 * @returns Contender indexes in running order.
 */
function roundOrder(count: number, round: number): number[] {
  // First row 0, 1, n-1, 2, n-2, ...; row r adds r to each, mod n.
  const first = [0];
  for (let low = 1, high = count - 1; first.length < count; low++, high--) {
    first.push(low);
    if (first.length < count) first.push(high);
  }
  return first.map((index) => (index + round) % count);
}

// Sequential: one client each, interleaved rounds so drift hits all alike.
const contenders: Array<() => Promise<PingClient> | PingClient> = [
  () => rawClient(path),
  () => fetchClient(path),
  () => berthClient(path),
  () => rawClient(path, 2),
];
const results: Sequential[][] = contenders.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const i of roundOrder(contenders.length, round)) {
    const client = await contenders[i]!();
    try {
      results[i]!.push(await sequential(client));
    } finally {
      client.close();
    }
  }
}

// 64 in flight: the floor and fetch get 64 connections; berth its default
// pool (16) and a 64-connection pool.
const rawPool = await Promise.all(Array.from({ length: IN_FLIGHT }, () => rawClient(path)));
const fetchOne = fetchClient(path);
const berthDefault = berthClient(path);
const berth64 = berthClient(path, IN_FLIGHT);
const rates = {
  raw: [] as number[],
  fetch: [] as number[],
  berth: [] as number[],
  berth64: [] as number[],
};
for (let round = 0; round < ROUNDS; round++) {
  rates.raw.push(await parallel(rawPool));
  rates.fetch.push(await parallel([fetchOne]));
  rates.berth.push(await parallel([berthDefault]));
  rates.berth64.push(await parallel([berth64]));
}
for (const client of rawPool) client.close();
fetchOne.close();
berthDefault.close();
berth64.close();

const names = ["raw socket floor", "fetch (unix proxy)", "berth"];
for (let i = 0; i < names.length; i++) {
  rows.push({
    name: names[i]!,
    seq: { p50: median(results[i]!.map((r) => r.p50)), cpu: median(results[i]!.map((r) => r.cpu)) },
    rate: median([rates.raw, rates.fetch, rates.berth][i]!),
  });
}
const floor = rows[0]!;
console.log(
  `_ping round trips over ${path}: ${SEQUENTIAL} sequential calls ×${ROUNDS} rounds, ${PARALLEL_CALLS} calls with ${IN_FLIGHT} in flight ×${ROUNDS} rounds (medians)`,
);
console.log(
  "| client | p50 µs | p50 vs floor | CPU µs/call | CPU vs floor | calls/s (64 in flight) | vs floor |",
);
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) {
  console.log(
    `| ${row.name} | ${row.seq.p50.toFixed(0)} | ${(row.seq.p50 / floor.seq.p50).toFixed(2)}× | ${
      row.seq.cpu.toFixed(0)
    } | ${(row.seq.cpu / floor.seq.cpu).toFixed(2)}× | ${row.rate.toFixed(0)} | ${
      (row.rate / floor.rate).toFixed(2)
    }× |`,
  );
}
const b64 = median(rates.berth64);
console.log(
  `| berth (maxConnections 64) | | | | | ${b64.toFixed(0)} | ${(b64 / floor.rate).toFixed(2)}× |`,
);
// Context for the p50 ratio, not a contender: the floor after 2 µs of work.
const worked = {
  p50: median(results[3]!.map((r) => r.p50)),
  cpu: median(results[3]!.map((r) => r.cpu)),
};
console.log(
  `| raw floor + 2 µs of work per call | ${worked.p50.toFixed(0)} | ${
    (worked.p50 / floor.seq.p50).toFixed(2)
  }× | ${worked.cpu.toFixed(0)} | ${(worked.cpu / floor.seq.cpu).toFixed(2)}× | | |`,
);
