/**
 * Worker isolation report: how much of a busy stream load lands on the main
 * thread, with and without stream workers. `Deno.bench` measures one
 * function's time; this needs event-loop lag under concurrent load, so it is
 * a report script (each configuration in its own process, like
 * `logs_report.ts`).
 *
 * While the streams run, the main thread runs a 1 ms `setTimeout` probe;
 * its lag (how late each tick fires) is reported as p50/p99/max, with the
 * total stream throughput and the CPU time of the process and of its main
 * thread alone (`/proc/self/task/<pid>/stat`: what really moved off it). An
 * `idle` row gives the probe's floor on this machine, and for `logs-live` a
 * `bystander` row gives the floor under that load: a second process that
 * runs only the probe while the streams are read in the first (no client
 * can do better than a process that does nothing). Cases:
 *
 * - `logs-live`: 8 containers write as fast as they can
 *   (`head -c N /dev/zero | tr '\0' a`), each followed by a logs stream
 *   from its start until it exits;
 * - `logs-replay`: the logs of 8 finished containers read back at full
 *   speed (the client, not the engine's log driver, is the limit);
 * - `stats+events`: stats streams of 8 running containers plus the events
 *   stream, for a few seconds (the engine sends a sample per second per
 *   container: light JSON);
 * - `json-flood`: 8 streams of stats-shaped JSON lines served at full speed
 *   by a fake engine in another process (JSON-heavy, where decoding
 *   off-thread was expected to help most).
 *
 * Modes: `main` (every stream on the main thread) and `workers` (a pool of
 * 2 workers, every stream in a worker).
 *
 * Run: `deno run --allow-all bench/worker_isolation_bench.ts [case ...]`
 * with `BERTH_TEST_HOST` naming a unix socket and `BERTH_TEST_IMAGE` a
 * busybox image. Knobs: `BERTH_BENCH_RUNS` (default 2), `BERTH_BENCH_LOGS_MIB` (per
 * container, default 64), `BERTH_BENCH_STATS_SECONDS` (default 5),
 * `BERTH_BENCH_JSON_LINES` (per stream, default 20000).
 *
 * @module
 */

import { type ApiCall, ApiClient, segment } from "../src/api/_client.ts";
import { frameDecoder } from "../src/api/_frames.ts";
import { System } from "../src/api/system.ts";
import { Docker } from "../src/docker.ts";
import { HttpClient } from "../src/http/client.ts";
import { createConnector, parseHost } from "../src/http/transport.ts";
import type { Frame } from "../src/stream/demux.ts";
import { JsonLinesDecoder } from "../src/stream/json_lines.ts";
import { WorkerPool } from "../src/worker/pool.ts";

const CASES = ["idle", "logs-live", "logs-replay", "stats+events", "json-flood"] as const;
/** The probe alone in a process of its own, until its stdin closes (not a case to ask for). */
const BYSTANDER = "bystander";
type Case = typeof CASES[number];
const MODES = ["main", "workers"] as const;
type Mode = typeof MODES[number];
const STREAMS = 8;
const WORKERS = 2;

/** What one child process measured. */
interface Measurement {
  lagP50: number;
  lagP99: number;
  lagMax: number;
  items: number;
  bytes: number;
  seconds: number;
  /** CPU seconds of the whole process (main thread and workers) while streaming. */
  cpu: number;
  /** CPU seconds of the main thread alone. */
  mainCpu: number;
}

/** CPU seconds this process (all its threads), or its main thread, has used so far. */
function cpuSeconds(thread?: "main"): number {
  const path = thread ? `/proc/self/task/${Deno.pid}/stat` : "/proc/self/stat";
  const fields = Deno.readTextFileSync(path).split(") ")[1]!.split(" ");
  // utime and stime, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function env(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

// ---------------------------------------------------------------------------
// Child side: one case in one mode
// ---------------------------------------------------------------------------

/** A client built the way `new Docker({ workers: { size } })` wires it. */
function client(host: string, mode: Mode) {
  const address = parseHost(host);
  const http = new HttpClient({
    connect: createConnector(address, 30_000),
    host,
    hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
  });
  const pool = new WorkerPool({ size: WORKERS, host });
  const api = new ApiClient(http, {
    apiVersion: "1.41",
    workers: pool,
    workersByDefault: mode === "workers",
  });
  return {
    api,
    system: new System(api),
    close() {
      pool.close();
      http.close();
    },
  };
}

/** The stream `containers.logs(id, { follow, tty: false })` returns. */
function logs(api: ApiClient, id: string, follow: boolean): ReadableStream<Frame> {
  const call: ApiCall = {
    method: "GET",
    path: `/containers/${segment(id, "container id")}/logs`,
    query: { follow, stdout: true, stderr: true },
    longLived: follow,
    action: `read logs of container "${id}"`,
  };
  return api.stream<Frame>(call, (response) => frameDecoder(response, false, true), {
    kind: "frames",
    tty: false,
  });
}

/** A JSON-lines stream such as `containers.statsStream(id)`. */
function jsonLines<T>(api: ApiClient, path: string, query = {}): ReadableStream<T> {
  return api.stream<T>(
    { method: "GET", path, query, longLived: true, action: `stream ${path}` },
    () => new JsonLinesDecoder<T>(),
    { kind: "json" },
  );
}

/** A 1 ms timer on the main thread; each sample is how late a tick fired. */
function startProbe(): { stop(): number[] } {
  const samples: number[] = [];
  let running = true;
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    samples.push(Math.max(0, now - last - 1));
    last = now;
    if (running) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  return {
    stop() {
      running = false;
      return samples;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function child(kind: Case, mode: Mode, args: string[]): Promise<Measurement> {
  if ((kind as string) === BYSTANDER) return await bystander();
  const host = kind === "json-flood" ? args[0]! : Deno.env.get("BERTH_TEST_HOST")!;
  const ids = kind === "json-flood" ? [] : args;
  const { api, system, close } = client(host, mode);
  let items = 0;
  let bytes = 0;
  const frames = async (stream: ReadableStream<Frame>) => {
    for await (const frame of stream) {
      items++;
      bytes += frame.data.length;
    }
  };
  const values = async (stream: ReadableStream<{ read?: string }>, budget?: AbortSignal) => {
    try {
      for await (const value of stream) {
        items++;
        // Touch the value the way a consumer would.
        if (value.read !== undefined) bytes += value.read.length;
      }
    } catch (error) {
      if (!budget?.aborted) throw error;
    }
  };
  let docker: Docker | undefined;
  if (kind === "logs-live") docker = new Docker({ host, apiVersion: "1.41" });
  try {
    // Warm-up: workers started and their modules loaded before timing.
    if (mode === "workers") {
      await Promise.all(
        Array.from({ length: WORKERS }, () =>
          api.stream<number>(
            { method: "GET", path: "/_ping", versioned: false, action: "ping" },
            () => ({ push: () => {}, finish: () => {} }),
            { kind: "bytes" },
          ).pipeTo(new WritableStream())),
      );
    }
    const probe = startProbe();
    const start = performance.now();
    const cpuStart = cpuSeconds();
    const mainCpuStart = cpuSeconds("main");
    if (kind === "idle") {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } else if (kind === "logs-live") {
      // Started first: a follow request that reaches the engine before the
      // start sees a stopped container and ends at once.
      await Promise.all(ids.map((id) => docker!.containers.start(id)));
      await Promise.all(ids.map((id) => frames(logs(api, id, true))));
    } else if (kind === "logs-replay") {
      await Promise.all(ids.map((id) => frames(logs(api, id, false))));
    } else if (kind === "stats+events") {
      const budget = AbortSignal.timeout(env("BERTH_BENCH_STATS_SECONDS", 5) * 1000);
      const streams = ids.map((id) =>
        api.stream<{ read?: string }>(
          {
            method: "GET",
            path: `/containers/${segment(id, "container id")}/stats`,
            query: { stream: true },
            longLived: true,
            signal: budget,
            action: `stream stats of container "${id}"`,
          },
          () => new JsonLinesDecoder(),
          { kind: "json" },
        )
      );
      streams.push(system.events({ signal: budget }) as ReadableStream<{ read?: string }>);
      await Promise.all(streams.map((stream) => values(stream, budget)));
    } else {
      await Promise.all(
        Array.from({ length: STREAMS }, (_, i) => values(jsonLines(api, `/flood/${i}`))),
      );
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = cpuSeconds() - cpuStart;
    const mainCpu = cpuSeconds("main") - mainCpuStart;
    const samples = probe.stop().sort((a, b) => a - b);
    return {
      lagP50: percentile(samples, 50),
      lagP99: percentile(samples, 99),
      lagMax: samples.at(-1) ?? 0,
      items,
      bytes,
      seconds,
      cpu,
      mainCpu,
    };
  } finally {
    close();
    await docker?.close();
  }
}

/** Runs the probe alone until stdin closes. */
async function bystander(): Promise<Measurement> {
  const probe = startProbe();
  const start = performance.now();
  const cpuStart = cpuSeconds();
  for await (const _ of Deno.stdin.readable) {
    // Nothing is sent: the parent closes stdin to stop the probe.
  }
  const samples = probe.stop().sort((a, b) => a - b);
  const cpu = cpuSeconds() - cpuStart;
  return {
    lagP50: percentile(samples, 50),
    lagP99: percentile(samples, 99),
    lagMax: samples.at(-1) ?? 0,
    items: 0,
    bytes: 0,
    seconds: (performance.now() - start) / 1000,
    cpu,
    mainCpu: cpu,
  };
}

/** Runs `measure` while a bystander process probes its own event loop. */
async function withBystander<T>(
  measure: () => Promise<T>,
): Promise<{ result: T; bystander: Measurement }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", import.meta.filename!, "--child", BYSTANDER, "main"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = process.output();
  let result: T;
  try {
    // Give the bystander time to start its probe.
    await new Promise((resolve) => setTimeout(resolve, 300));
    result = await measure();
  } finally {
    await process.stdin.close();
  }
  const { stdout, success } = await output;
  if (!success) throw new Error("bystander probe failed");
  const line = new TextDecoder().decode(stdout).trim().split("\n").pop()!;
  return { result, bystander: JSON.parse(line) };
}

// ---------------------------------------------------------------------------
// Fake JSON engine (its own process, so serving costs the client nothing)
// ---------------------------------------------------------------------------

/** A stats sample of realistic shape and size (~1.8 KB as a JSON line). */
function statsSample(i: number): string {
  const cpu = Array.from({ length: 16 }, (_, n) => 1_000_000 * n + i);
  return JSON.stringify({
    read: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    preread: new Date(1_700_000_000_000 + i * 1000 - 1000).toISOString(),
    pids_stats: { current: 3, limit: 4915 },
    blkio_stats: { io_service_bytes_recursive: [{ major: 8, minor: 0, op: "read", value: i }] },
    num_procs: 0,
    cpu_stats: {
      cpu_usage: {
        total_usage: i * 1000,
        percpu_usage: cpu,
        usage_in_kernelmode: i,
        usage_in_usermode: i,
      },
      system_cpu_usage: 1e12 + i,
      online_cpus: 16,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    precpu_stats: {
      cpu_usage: {
        total_usage: i * 999,
        percpu_usage: cpu,
        usage_in_kernelmode: i,
        usage_in_usermode: i,
      },
      system_cpu_usage: 1e12 + i - 1,
      online_cpus: 16,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    memory_stats: {
      usage: 6_537_216 + i,
      max_usage: 7_000_000,
      stats: {
        active_anon: 0,
        active_file: 1,
        cache: 2,
        dirty: 0,
        hierarchical_memory_limit: 9e18,
        inactive_anon: 3,
        inactive_file: 4,
        mapped_file: 5,
        pgfault: 6,
        pgmajfault: 7,
        pgpgin: 8,
        pgpgout: 9,
        rss: 10,
        rss_huge: 0,
        total_active_anon: 0,
        total_cache: 2,
        total_rss: 10,
        unevictable: 0,
        writeback: 0,
      },
      limit: 8_000_000_000,
    },
    name: `/berth-bench-${i % 8}`,
    id: "b3a2".repeat(16),
    networks: {
      eth0: {
        rx_bytes: i * 100,
        rx_dropped: 0,
        rx_errors: 0,
        rx_packets: i,
        tx_bytes: i * 50,
        tx_dropped: 0,
        tx_errors: 0,
        tx_packets: i,
      },
    },
  }) + "\n";
}

/** Serves every request with a chunked body of `lines` stats lines, in ~64 KiB chunks. */
async function serveJson(path: string, lines: number): Promise<void> {
  const encoder = new TextEncoder();
  const listener = Deno.listen({ transport: "unix", path });
  console.log("ready");
  const block = encoder.encode(Array.from({ length: 32 }, (_, i) => statsSample(i)).join(""));
  const chunk = new Uint8Array(block.length + 16);
  const head = encoder.encode(`${block.length.toString(16)}\r\n`);
  chunk.set(head);
  chunk.set(block, head.length);
  chunk.set(encoder.encode("\r\n"), head.length + block.length);
  const framed = chunk.subarray(0, head.length + block.length + 2);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(4096);
      try {
        while (true) {
          // One request per connection at a time; its head fits in one read.
          const n = await conn.read(buffer);
          if (n === null) break;
          await write(
            conn,
            encoder.encode(
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
          );
          for (let sent = 0; sent < lines; sent += 32) await write(conn, framed);
          await write(conn, encoder.encode("0\r\n\r\n"));
        }
      } catch {
        // Client went away.
      } finally {
        conn.close();
      }
    })();
  }
}

async function write(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

// ---------------------------------------------------------------------------
// Parent side: prepare, run each mode in a child, print the table
// ---------------------------------------------------------------------------

async function runChild(kind: Case, mode: Mode, args: string[]): Promise<Measurement> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", import.meta.filename!, "--child", kind, mode, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`${kind} ${mode} failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").pop()!);
}

async function createContainers(docker: Docker, image: string, cmd: string[]): Promise<string[]> {
  return await Promise.all(Array.from({ length: STREAMS }, async () => {
    const { Id } = await docker.containers.create({
      Image: image,
      Cmd: cmd,
      Labels: { "berth.test": "1", "berth.bench": "worker-isolation" },
    });
    return Id;
  }));
}

async function removeAll(docker: Docker, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => docker.containers.remove(id, { force: true }).catch(() => {})));
}

function row(kind: string, mode: string, m: Measurement): string {
  const rate = kind.startsWith("logs")
    ? `${(m.bytes / 1e6 / m.seconds).toFixed(0)} MB/s`
    : `${(m.items / m.seconds).toFixed(0)} items/s`;
  return [
    kind.padEnd(13),
    mode.padEnd(8),
    `lag p50 ${m.lagP50.toFixed(2).padStart(5)} ms`,
    `p99 ${m.lagP99.toFixed(2).padStart(6)} ms`,
    `max ${m.lagMax.toFixed(1).padStart(5)} ms`,
    rate.padStart(13),
    `${m.items} items, ${(m.bytes / 1e6).toFixed(0)} MB in ${m.seconds.toFixed(2)} s`.padEnd(32),
    `cpu ${m.cpu.toFixed(2)} s (main thread ${m.mainCpu.toFixed(2)} s)`,
  ].join("  ");
}

async function main(): Promise<void> {
  const host = Deno.env.get("BERTH_TEST_HOST") ?? Deno.env.get("DOCKER_HOST") ??
    "unix:///var/run/docker.sock";
  const image = Deno.env.get("BERTH_TEST_IMAGE") ?? "berth-test/busybox:latest";
  const runs = env("BERTH_BENCH_RUNS", 2);
  const mib = env("BERTH_BENCH_LOGS_MIB", 64);
  const wanted = new Set<string>(Deno.args.length ? Deno.args : CASES);
  const childEnv = { BERTH_TEST_HOST: host };
  for (const [name, value] of Object.entries(childEnv)) Deno.env.set(name, value);
  await using docker = new Docker({ host });
  console.log(
    `Stream worker isolation: ${STREAMS} concurrent streams, main thread vs a pool of ${WORKERS} workers; ` +
      `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores; ${runs} runs per configuration`,
  );
  const writer = ["sh", "-c", `head -c ${mib * 1024 * 1024} /dev/zero | tr '\\0' a`];
  const results: Record<string, Partial<Record<Mode, Measurement>>[]> = {};
  if (wanted.has("idle")) {
    console.log(`baseline     ${row("idle", "main", await runChild("idle", "main", []))}`);
  }
  const record = (kind: string, run: number, mode: Mode, m: Measurement) => {
    ((results[kind] ??= [])[run] ??= {})[mode] = m;
    console.log(`run ${run + 1}  ${row(kind, mode, m)}`);
  };
  if (wanted.has("logs-live")) {
    for (let run = 0; run < runs; run++) {
      for (const mode of MODES) {
        const ids = await createContainers(docker, image, writer);
        try {
          const { result, bystander } = await withBystander(() => runChild("logs-live", mode, ids));
          record("logs-live", run, mode, result);
          console.log(`       ${row("bystander", "(alone)", bystander)}`);
        } finally {
          await removeAll(docker, ids);
        }
      }
    }
  }
  if (wanted.has("logs-replay")) {
    const ids = await createContainers(docker, image, writer);
    try {
      await Promise.all(ids.map((id) => docker.containers.start(id)));
      await Promise.all(ids.map((id) => docker.containers.wait(id)));
      for (let run = 0; run < runs; run++) {
        for (const mode of MODES) {
          record("logs-replay", run, mode, await runChild("logs-replay", mode, ids));
        }
      }
    } finally {
      await removeAll(docker, ids);
    }
  }
  if (wanted.has("stats+events")) {
    const ids = await createContainers(docker, image, ["sleep", "600"]);
    try {
      await Promise.all(ids.map((id) => docker.containers.start(id)));
      for (let run = 0; run < runs; run++) {
        for (const mode of MODES) {
          record("stats+events", run, mode, await runChild("stats+events", mode, ids));
        }
      }
    } finally {
      await removeAll(docker, ids);
    }
  }
  if (wanted.has("json-flood")) {
    const dir = await Deno.makeTempDir({ prefix: "berth-bench-" });
    const socket = `${dir}/flood.sock`;
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        import.meta.filename!,
        "--serve-json",
        socket,
        String(env("BERTH_BENCH_JSON_LINES", 20_000)),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = server.stdout.getReader();
      await reader.read(); // "ready"
      reader.releaseLock();
      server.stdout.cancel().catch(() => {});
      for (let run = 0; run < runs; run++) {
        for (const mode of MODES) {
          record("json-flood", run, mode, await runChild("json-flood", mode, [`unix://${socket}`]));
        }
      }
    } finally {
      server.kill();
      await server.status;
      await Deno.remove(dir, { recursive: true });
    }
  }
  console.log("\nWithin each run, workers against main: throughput, p99 lag, main-thread CPU");
  for (const [kind, byRun] of Object.entries(results)) {
    byRun.forEach((modes, run) => {
      const { main: m, workers: w } = modes;
      if (!m || !w) return;
      const rate = (x: Measurement) => (kind.startsWith("logs") ? x.bytes : x.items) / x.seconds;
      console.log(
        `${kind.padEnd(13)} run ${run + 1}: throughput ${(rate(w) / rate(m) * 100).toFixed(0)}%, ` +
          `p99 lag ${m.lagP99.toFixed(2)} → ${w.lagP99.toFixed(2)} ms, ` +
          `main-thread CPU ${m.mainCpu.toFixed(2)} → ${w.mainCpu.toFixed(2)} s`,
      );
    });
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    const [, kind, mode, ...rest] = Deno.args;
    console.log(JSON.stringify(await child(kind as Case, mode as Mode, rest)));
  } else if (Deno.args[0] === "--serve-json") {
    await serveJson(Deno.args[1]!, Number(Deno.args[2]));
  } else {
    await main();
  }
}
