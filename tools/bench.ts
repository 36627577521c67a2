/**
 * `deno task bench`: runs every benchmark against an engine it provides
 * (the one `DOCKER_HOST` or /var/run/docker.sock names when it answers,
 * else a private one, as the test task does), and prints the tables the
 * README's performance section is made of.
 *
 * - `bench/http_parser_bench.ts` (in memory, `Deno.bench` with a baseline),
 *   and `bench/http_parser_throughput.ts` for GB/s;
 * - `bench/client_overhead_report.ts` (in memory, no engine): a `_ping`'s
 *   own cost in the client, against the raw floor's;
 * - `bench/roundtrip_report.ts`: `_ping` p50, CPU per call, 64 in flight;
 * - `bench/logs_report.ts`: 256 MiB and 1M-line logs, MB/s and peak RSS;
 * - `bench/build_output_report.ts`: a BuildKit build's tar output through
 *   the session, against the engine's plain export of the same files;
 * - `bench/build_context_report.ts`: a BuildKit build of a directory read
 *   through the session (first, unchanged, one file changed), against the
 *   same directory sent as a tar body;
 * - `bench/worker_isolation_bench.ts`: main-thread timer lag and throughput
 *   of 8 streams, with and without stream workers.
 *
 * Pass report names to run only some: `deno task bench roundtrip logs`.
 *
 * @module
 */

import {
  ensureTestImage,
  pingEngine,
  type PrivateEngine,
  privateEngineDir,
  removeEngineDir,
  startPrivateEngine,
} from "./_engine.ts";

const wanted = new Set(
  Deno.args.length
    ? Deno.args
    : ["parser", "overhead", "roundtrip", "logs", "output", "context", "workers"],
);

async function run(args: string[], env: Record<string, string>): Promise<void> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`deno ${args.join(" ")} failed`);
}

async function pickEngine(): Promise<{ host: string; engine?: PrivateEngine }> {
  for (const host of [Deno.env.get("DOCKER_HOST"), "unix:///var/run/docker.sock"]) {
    if (host?.startsWith("unix://") && await pingEngine(host)) return { host };
  }
  const engine = await startPrivateEngine(privateEngineDir("bench-engine"));
  return { host: engine.host, engine };
}

console.log(
  `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${Deno.build.target}`,
);
if (wanted.has("parser")) {
  await run(["bench", "--allow-all", "bench/http_parser_bench.ts"], {});
  await run(["run", "--allow-all", "bench/http_parser_throughput.ts"], {});
}
if (wanted.has("overhead")) {
  await run(["run", "--allow-all", "bench/client_overhead_report.ts"], {});
}
if (["roundtrip", "logs", "output", "context", "workers"].some((name) => wanted.has(name))) {
  const { host, engine } = await pickEngine();
  try {
    const env = { BERTH_TEST_HOST: host, BERTH_TEST_IMAGE: await ensureTestImage(host) };
    if (wanted.has("roundtrip")) {
      await run(["run", "--allow-all", "bench/roundtrip_report.ts"], env);
    }
    if (wanted.has("logs")) await run(["run", "--allow-all", "bench/logs_report.ts"], env);
    if (wanted.has("output")) {
      await run(["run", "--allow-all", "bench/build_output_report.ts"], env);
    }
    if (wanted.has("context")) {
      await run(["run", "--allow-all", "bench/build_context_report.ts"], env);
    }
    if (wanted.has("workers")) {
      await run(["run", "--allow-all", "bench/worker_isolation_bench.ts"], env);
    }
  } finally {
    if (engine) {
      await engine.stop();
      await removeEngineDir(engine.dir);
    }
  }
}
