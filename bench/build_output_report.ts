/**
 * BuildKit output report against a real engine: how fast a build's files
 * come back through the session (`output: { type: "tar" }`: gRPC
 * `FileSend/DiffCopy` over berth's HTTP/2 server), against a baseline that
 * moves about the same bytes without the session: `GET
 * /containers/{id}/export` (HTTP/1.1) of a container made from the same
 * build as an image.
 *
 * The build writes `BERTH_BENCH_OUTPUT_MB` MiB (default 200) of random
 * bytes in one `RUN` step; every later build hits the cache, so each round
 * times the transfer: from the first byte to the last, median of
 * `BERTH_BENCH_ROUNDS` (default 5) rounds, contenders in turn.
 *
 * Run: `deno run --allow-all bench/build_output_report.ts` with
 * `BERTH_TEST_HOST` (or `DOCKER_HOST`) naming the engine and
 * `BERTH_TEST_IMAGE` a busybox image (`deno task bench output` provides
 * both).
 *
 * @module
 */

import { Docker } from "../mod.ts";
import { median } from "./_stats.ts";

const MB = Number(Deno.env.get("BERTH_BENCH_OUTPUT_MB") ?? 200);
const ROUNDS = Number(Deno.env.get("BERTH_BENCH_ROUNDS") ?? 5);
const image = Deno.env.get("BERTH_TEST_IMAGE") ?? "berth-test/busybox:latest";
const host = Deno.env.get("BERTH_TEST_HOST") ?? Deno.env.get("DOCKER_HOST");
const LABELS = { "berth.test": "1" };

/** Bytes and seconds from the first byte to the last. */
interface Transfer {
  bytes: number;
  seconds: number;
}

/** A sink that counts bytes and notes when the first and last came. */
function counter(): { sink: WritableStream<Uint8Array>; result: () => Transfer } {
  let bytes = 0;
  let first = 0;
  let last = 0;
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      if (bytes === 0) first = performance.now();
      bytes += chunk.length;
      last = performance.now();
    },
  });
  return { sink, result: () => ({ bytes, seconds: (last - first) / 1000 }) };
}

await using docker = new Docker(host ? { host } : {});
const context = await Deno.makeTempDir({ prefix: "berth-output-bench-" });
const tag = `berth-bench/output:${crypto.randomUUID().slice(0, 8)}`;
let container: string | undefined;
try {
  await Deno.writeTextFile(
    `${context}/Dockerfile`,
    `FROM ${image}\nRUN dd if=/dev/urandom of=/payload bs=1M count=${MB} 2>/dev/null\n`,
  );
  const buildKit = { version: "2", networkMode: "none", labels: LABELS } as const;
  // The image (and the cache the outputs then hit), and a container of it to export.
  await docker.images.build(context, { ...buildKit, tags: [tag] });
  container = (await docker.containers.create({ Image: tag, Cmd: ["true"], Labels: LABELS })).Id;

  const rates: Record<"output" | "export", number[]> = { output: [], export: [] };
  let bytes: Record<"output" | "export", number> = { output: 0, export: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const output = counter();
    await docker.images.build(context, { ...buildKit, output: { type: "tar", dest: output.sink } });
    const exported = counter();
    await docker.containers.export(container).pipeTo(exported.sink);
    for (
      const [name, transfer] of [["output", output.result()], [
        "export",
        exported.result(),
      ]] as const
    ) {
      rates[name].push(transfer.bytes / 1e6 / transfer.seconds);
      bytes = { ...bytes, [name]: transfer.bytes };
    }
  }
  const exportRate = median(rates.export);
  console.log(
    `BuildKit output of a ${MB} MiB file: ${ROUNDS} rounds, medians, MB/s from the first byte`,
  );
  console.log("| path | bytes | MB/s | vs export |");
  console.log("|---|---|---|---|");
  console.log(
    `| containers.export (HTTP/1.1, baseline) | ${bytes.export} | ${
      exportRate.toFixed(0)
    } | 1.00× |`,
  );
  const outputRate = median(rates.output);
  console.log(
    `| build output: { type: "tar" } (session, HTTP/2) | ${bytes.output} | ${
      outputRate.toFixed(0)
    } | ${(outputRate / exportRate).toFixed(2)}× |`,
  );
} finally {
  if (container) await docker.containers.remove(container, { force: true }).catch(() => {});
  await docker.images.remove(tag, { force: true }).catch(() => {});
  await Deno.remove(context, { recursive: true });
}
