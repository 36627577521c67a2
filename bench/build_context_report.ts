/**
 * BuildKit context report against a real engine: how long a build of a
 * directory takes when the engine reads the directory through the session
 * (fsutil's DiffCopy: stats, then only the files it lacks), against the
 * baseline of the same directory sent as a tar request body (what berth
 * did before, and what the classic builder always gets).
 *
 * The context holds `BERTH_BENCH_CONTEXT_MB` MiB (default 64) of random
 * bytes: half in one file, half in 32 KiB files. The Dockerfile only
 * copies it (`COPY . /ctx`), so after the first build every build is the
 * transfer plus the engine's cache check. Each round times, end to end:
 *
 * - `tar body`: the directory packed and sent whole (baseline);
 * - `session, first`: the directory under a new name, so the engine has
 *   no copy of it and asks for every file;
 * - `session, unchanged`: the same directory again;
 * - `session, one file changed`: after rewriting one 32 KiB file.
 *
 * Medians of `BERTH_BENCH_ROUNDS` (default 5) rounds. Run: `deno run
 * --allow-all bench/build_context_report.ts` with `BERTH_TEST_HOST` (or
 * `DOCKER_HOST`) naming the engine and `BERTH_TEST_IMAGE` a busybox image
 * (`deno task bench context` provides both).
 *
 * @module
 */

import { Docker, type ImageBuildEvent, packContext } from "../mod.ts";
import { median } from "./_stats.ts";

const MB = Number(Deno.env.get("BERTH_BENCH_CONTEXT_MB") ?? 64);
const ROUNDS = Number(Deno.env.get("BERTH_BENCH_ROUNDS") ?? 5);
const image = Deno.env.get("BERTH_TEST_IMAGE") ?? "berth-test/busybox:latest";
const host = Deno.env.get("BERTH_TEST_HOST") ?? Deno.env.get("DOCKER_HOST");
const LABELS = { "berth.test": "1" };
const SMALL = 32 * 1024;

type Path = "tar body" | "session, first" | "session, unchanged" | "session, one file changed";

/** Random bytes (getRandomValues fills at most 64 KiB at a time). */
function random(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  }
  return out;
}

await using docker = new Docker(host ? { host } : {});
const parent = await Deno.makeTempDir({ prefix: "berth-context-bench-" });
let directory = `${parent}/ctx-0`;
const images = new Set<string>();
try {
  await Deno.mkdir(`${directory}/many`, { recursive: true });
  await Deno.writeTextFile(`${directory}/Dockerfile`, `FROM ${image}\nCOPY . /ctx\n`);
  const half = MB * 1024 * 1024 / 2;
  await Deno.writeFile(`${directory}/big.bin`, random(half));
  for (let i = 0; i < half / SMALL; i++) {
    await Deno.writeFile(`${directory}/many/${String(i).padStart(5, "0")}`, random(SMALL));
  }
  const files = 2 + half / SMALL;
  const options = { version: "2", networkMode: "none", labels: LABELS } as const;

  /** One build, timed; returns seconds and the context bytes the engine reported. */
  const timed = async (context: string | ReadableStream<Uint8Array>) => {
    let sent = 0;
    const start = performance.now();
    const { imageId } = await docker.images.build(context, {
      ...options,
      onProgress: (event: ImageBuildEvent) => {
        for (const status of event.buildkit?.statuses ?? []) {
          if (status.id.startsWith("transferring context")) sent = Math.max(sent, status.current);
        }
      },
    });
    images.add(imageId);
    return { seconds: (performance.now() - start) / 1000, sent };
  };

  await timed(directory); // Warms the base image and the cache.
  const seconds: Record<Path, number[]> = {
    "tar body": [],
    "session, first": [],
    "session, unchanged": [],
    "session, one file changed": [],
  };
  const sent: Partial<Record<Path, number>> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    const tar = await timed(await packContext(directory));
    seconds["tar body"].push(tar.seconds);
    // A new name: the engine keeps its copies by directory.
    const renamed = `${parent}/ctx-${round}`;
    await Deno.rename(directory, renamed);
    directory = renamed;
    for (const path of ["session, first", "session, unchanged"] as const) {
      const build = await timed(directory);
      seconds[path].push(build.seconds);
      sent[path] = build.sent;
    }
    await Deno.writeFile(`${directory}/many/00000`, random(SMALL));
    const changed = await timed(directory);
    seconds["session, one file changed"].push(changed.seconds);
    sent["session, one file changed"] = changed.sent;
  }
  const baseline = median(seconds["tar body"]);
  console.log(
    `BuildKit build of a ${MB} MiB directory (${files} files; COPY . /ctx): ${ROUNDS} rounds, medians`,
  );
  console.log("| context | bytes the engine reported | seconds | vs tar body |");
  console.log("|---|---|---|---|");
  for (const path of Object.keys(seconds) as Path[]) {
    const time = median(seconds[path]);
    console.log(
      `| ${path} | ${sent[path] ?? "(upload)"} | ${time.toFixed(2)} | ${
        (time / baseline).toFixed(2)
      }× |`,
    );
  }
} finally {
  for (const id of images) await docker.images.remove(id, { force: true }).catch(() => {});
  await Deno.remove(parent, { recursive: true });
}
