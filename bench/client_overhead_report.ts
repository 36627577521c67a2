/**
 * A `_ping` call's own cost in the client, with the engine taken out: each
 * contender talks to an in-memory connection whose writes complete at once
 * and whose reads return a real Docker 20.10 `_ping` answer. What is left
 * is the JavaScript a call runs (request bytes, head parse, framing, pool,
 * bookkeeping) and its promise steps, measured hot.
 *
 * The round-trip report (`bench/roundtrip_report.ts`) measures the same
 * calls against a real engine, where this cost is paid cold (the engine's
 * turn in between leaves caches and predictors to others) and the engine's
 * own wake-up depends on how soon the next request comes.
 *
 * Contenders:
 * - the raw floor (baseline): fixed request bytes, the least parsing that
 *   finds the end of the answer, as in `bench/_roundtrip.ts`;
 * - the floor plus berth's head parser (`parseHead`) on the answer;
 * - berth's `system.ping()` (the API layer on top: what a caller awaits).
 *
 * A report rather than `Deno.bench`: at this scale `Deno.bench`'s own
 * per-iteration handling of an async call was more than the floor's whole
 * cost, and its figures moved by a third between runs.
 *
 * Run: `deno run --allow-all bench/client_overhead_report.ts` (no engine).
 *
 * @module
 */

import { ApiClient } from "../src/api/_client.ts";
import { System } from "../src/api/system.ts";
import { HttpClient } from "../src/http/client.ts";
import { parseHead } from "../src/http/response_head.ts";
import { floorPing } from "./_roundtrip.ts";
import { median } from "./_stats.ts";

const encoder = new TextEncoder();

/** A `_ping` answer as Docker 20.10 sends it (captured from the engine). */
const ANSWER = encoder.encode(
  "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\n" +
    "Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n" +
    "Server: Docker/20.10.24+dfsg1 (linux)\r\nDate: Thu, 03 Dec 2026 16:23:09 GMT\r\n" +
    "Content-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK",
);
const PING = encoder.encode("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");

/**
 * A connection that answers every read with {@linkcode ANSWER}: enough of a
 * `Deno.Conn` for the contenders here.
 */
function answeringConn(): Deno.Conn {
  const conn = {
    write: (bytes: Uint8Array) => Promise.resolve(bytes.length),
    read(into: Uint8Array) {
      into.set(ANSWER);
      return Promise.resolve(ANSWER.length);
    },
    close() {},
    closeWrite: () => Promise.resolve(),
  };
  return conn as unknown as Deno.Conn;
}

const floorConn = answeringConn();
const floorBuffer = new Uint8Array(4096);

const limits = { maxHeaderSize: 65_536, maxHeaderCount: 256 };

/** The floor, then berth's head parser on what it read. */
async function floorParsePing(): Promise<void> {
  await floorConn.write(PING);
  const n = await floorConn.read(floorBuffer);
  if (n === null || parseHead(floorBuffer.subarray(0, n), limits) === undefined) {
    throw new Error("no head");
  }
}

const http = new HttpClient({
  connect: () => Promise.resolve(answeringConn()),
  host: "unix:///in-memory",
  hostHeader: "docker",
});
const system = new System(new ApiClient(http));

/** One contender: a name and one call. */
interface Contender {
  name: string;
  call: () => Promise<unknown>;
}

const contenders: Contender[] = [
  { name: "raw floor", call: floorPing(floorConn) },
  { name: "floor + parseHead", call: floorParsePing },
  { name: "berth system.ping()", call: () => system.ping() },
];

/** Calls per contender per round. */
const CALLS = Number(Deno.env.get("BERTH_BENCH_MEMORY_CALLS") ?? 200_000);
/** Interleaved rounds; each figure is their median. */
const ROUNDS = Number(Deno.env.get("BERTH_BENCH_ROUNDS") ?? 8);

/** Nanoseconds per call over `CALLS` calls in a row. */
async function perCall(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await call();
  return (performance.now() - start) * 1e6 / CALLS;
}

for (const { call } of contenders) await perCall(call); // warm-up
const results: number[][] = contenders.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  // Each round starts with another contender, so drift hits all alike.
  for (let k = 0; k < contenders.length; k++) {
    const i = (round + k) % contenders.length;
    results[i]!.push(await perCall(contenders[i]!.call));
  }
}
const floor = median(results[0]!);
console.log(
  `_ping calls on an in-memory connection (no engine): ${CALLS} calls ×${ROUNDS} rounds (medians)`,
);
console.log("| client | ns per call | vs floor |");
console.log("|---|---|---|");
for (let i = 0; i < contenders.length; i++) {
  const ns = median(results[i]!);
  console.log(`| ${contenders[i]!.name} | ${ns.toFixed(0)} | ${(ns / floor).toFixed(2)}× |`);
}
http.close();
