/**
 * Logs throughput report against a real engine: a container writes 256 MiB
 * (16 KiB log entries) and, separately, one million short lines; each is
 * read back through `GET /containers/{id}/logs` by three contenders, each in
 * its own process so peak RSS (VmHWM) is comparable:
 *
 * - raw socket floor: fixed request bytes, read to EOF, no parsing at all;
 * - fetch + JS demux: Deno's fetch over the unix socket, a straightforward
 *   frame demuxer in JS;
 * - berth: `docker.containers.logs()`;
 * - berth reusing its read buffer: `logs(id, { reuseBuffer: true })`, each
 *   frame valid until the next read (what the loop here needs).
 *
 * Each contender runs `BERTH_BENCH_ROUNDS` times (default 5), in turn; the
 * rate is that of the median run by time, the peak RSS the median of the
 * runs' peaks (taken on its own: a GC's timing moves it from run to run).
 *
 * Run: `deno run --allow-all bench/logs_report.ts` with `BERTH_TEST_HOST`
 * (or `DOCKER_HOST`) naming a unix socket and `BERTH_TEST_IMAGE` a busybox
 * image (`deno task bench` provides both).
 *
 * @module
 */

import { Docker } from "../mod.ts";
import { socketPath } from "./_roundtrip.ts";

const MODES = ["raw", "fetch", "berth", "berth-reuse"] as const;
type Mode = typeof MODES[number];

interface Measurement {
  mode: Mode;
  payload: number;
  frames: number;
  seconds: number;
  peakRssMiB: number;
}

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Reads the whole response with no parsing: the floor. */
async function raw(
  path: string,
  target: string,
): Promise<Omit<Measurement, "mode" | "peakRssMiB">> {
  const conn = await Deno.connect({ transport: "unix", path });
  const start = performance.now();
  await conn.write(
    new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`),
  );
  const buffer = new Uint8Array(256 * 1024);
  let total = 0;
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    total += n;
  }
  conn.close();
  return { payload: total, frames: 0, seconds: (performance.now() - start) / 1000 };
}

/** fetch plus a plain JS demuxer that copies split headers and payloads. */
async function viaFetch(
  path: string,
  target: string,
): Promise<Omit<Measurement, "mode" | "peakRssMiB">> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  const start = performance.now();
  const response = await fetch(`http://docker${target}`, { client });
  let pending = new Uint8Array(0);
  let payload = 0;
  let frames = 0;
  for await (const chunk of response.body!) {
    let data = chunk;
    if (pending.length) {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      data = joined;
    }
    let offset = 0;
    while (data.length - offset >= 8) {
      const size = new DataView(data.buffer, data.byteOffset + offset + 4, 4).getUint32(0);
      if (data.length - offset - 8 < size) break;
      payload += size;
      frames++;
      offset += 8 + size;
    }
    pending = data.slice(offset);
  }
  client.close();
  return { payload, frames, seconds: (performance.now() - start) / 1000 };
}

async function viaBerth(
  host: string,
  id: string,
  reuseBuffer: boolean,
): Promise<Omit<Measurement, "mode" | "peakRssMiB">> {
  await using docker = new Docker({ host });
  const start = performance.now();
  let payload = 0;
  let frames = 0;
  for await (const frame of docker.containers.logs(id, { tty: false, reuseBuffer })) {
    payload += frame.data.length;
    frames++;
  }
  return { payload, frames, seconds: (performance.now() - start) / 1000 };
}

/** Child mode: measure one contender and print JSON. */
async function child(mode: Mode, id: string): Promise<void> {
  const path = socketPath();
  const target = `/v1.41/containers/${id}/logs?stdout=1&stderr=1`;
  const result = mode === "raw"
    ? await raw(path, target)
    : mode === "fetch"
    ? await viaFetch(path, target)
    : await viaBerth(`unix://${path}`, id, mode === "berth-reuse");
  console.log(JSON.stringify({ mode, ...result, peakRssMiB: peakRssMiB() }));
}

async function runChild(mode: Mode, id: string): Promise<Measurement> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", import.meta.filename!, "--child", mode, id],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`${mode} contender failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").pop()!);
}

async function prepare(docker: Docker, image: string, script: string): Promise<string> {
  const { Id } = await docker.containers.create({
    Image: image,
    Cmd: ["sh", "-c", script],
    Labels: { "berth.test": "1", "berth.bench": "logs" },
  });
  await docker.containers.start(Id);
  await docker.containers.wait(Id);
  return Id;
}

async function main(): Promise<void> {
  const host = `unix://${socketPath()}`;
  const image = Deno.env.get("BERTH_TEST_IMAGE") ?? "berth-test/busybox:latest";
  await using docker = new Docker({ host });
  const cases = [
    { name: "256 MiB in 16 KiB entries", script: "head -c 268435456 /dev/zero | tr '\\0' 'a'" },
    { name: "1,000,000 short lines", script: "seq 1 1000000" },
  ];
  const rounds = Number(Deno.env.get("BERTH_BENCH_ROUNDS") ?? 5);
  console.log(
    `Container logs read back through GET /containers/{id}/logs (medians of ${rounds} runs, each contender in its own process)`,
  );
  for (const { name, script } of cases) {
    const id = await prepare(docker, image, script);
    try {
      const runs: Record<Mode, Measurement[]> = {
        raw: [],
        fetch: [],
        berth: [],
        "berth-reuse": [],
      };
      for (let round = 0; round < rounds; round++) {
        for (const mode of MODES) runs[mode].push(await runChild(mode, id));
      }
      const middle = Math.floor(rounds / 2);
      const med = (mode: Mode) => runs[mode].toSorted((a, b) => a.seconds - b.seconds)[middle]!;
      const medRss = (mode: Mode) =>
        runs[mode].map((m) => m.peakRssMiB).toSorted((a, b) => a - b)[middle]!;
      const floor = med("raw");
      console.log(`\n${name}`);
      console.log("| reader | MB/s | vs floor | frames | peak RSS MiB | RSS vs floor |");
      console.log("|---|---|---|---|---|---|");
      // Rates use the same payload for everyone (berth's demuxed byte
      // count): the floor reads the same response without demuxing it.
      const payload = med("berth").payload;
      for (const mode of MODES) {
        const m = med(mode);
        const rate = payload / m.seconds / 1e6;
        const floorRate = payload / floor.seconds / 1e6;
        console.log(
          `| ${
            mode === "raw"
              ? "raw socket floor (wire bytes)"
              : mode === "fetch"
              ? "fetch + JS demux"
              : mode === "berth"
              ? "berth"
              : "berth, `reuseBuffer: true`"
          } | ${rate.toFixed(rate < 10 ? 1 : 0)} | ${
            (rate / floorRate).toFixed(2)
          }× | ${m.frames} | ${medRss(mode).toFixed(1)} | ${
            (medRss(mode) - medRss("raw") >= 0 ? "+" : "") +
            (medRss(mode) - medRss("raw")).toFixed(1)
          } MiB |`,
        );
      }
    } finally {
      await docker.containers.remove(id, { force: true });
    }
  }
}

if (Deno.args[0] === "--child") await child(Deno.args[1] as Mode, Deno.args[2]!);
else await main();
