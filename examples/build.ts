/**
 * Builds an image from a directory, like `docker build`, and draws the
 * progress on the terminal: the step lines as they come, and a bar per
 * layer while a `FROM` image is pulled. With `--buildkit`, the build runs
 * on BuildKit and its steps are printed as `docker build --progress=plain`
 * prints them. Ctrl-C aborts the build (the engine stops it when the
 * connection closes).
 *
 * ```sh
 * deno run --allow-all examples/build.ts [--buildkit] [directory] [tag]
 * ```
 *
 * Without a directory, a small demo context (`FROM busybox:latest`, or the
 * image in `BERTH_EXAMPLE_IMAGE`; a `.dockerignore`; a `RUN` step) is
 * written to a temporary directory, built, and the image removed afterwards.
 *
 * @module
 */

import { Docker, DockerStreamError, ProgressBars } from "../mod.ts";

const buildkit = Deno.args.includes("--buildkit");
const [directoryArg, tag] = Deno.args.filter((arg) => arg !== "--buildkit");

/** Writes the demo context and returns its path. */
async function demoContext(): Promise<string> {
  const directory = await Deno.makeTempDir({ prefix: "berth-build-example-" });
  await Deno.writeTextFile(
    `${directory}/Dockerfile`,
    [
      `FROM ${Deno.env.get("BERTH_EXAMPLE_IMAGE") ?? "busybox:latest"}`,
      "ARG GREETING=hello",
      "COPY . /app",
      'RUN echo "$GREETING from the build" > /app/greeting && ls -la /app',
      'CMD ["cat", "/app/greeting"]',
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(`${directory}/.dockerignore`, "# not sent to the engine\n*.secret\n");
  await Deno.writeTextFile(`${directory}/notes.txt`, "sent\n");
  await Deno.writeTextFile(`${directory}/token.secret`, "never sent\n");
  return directory;
}

const directory = directoryArg ?? await demoContext();
// Credentials of `docker login` are used for private FROM images.
await using docker = new Docker({ credentials: "docker-config" });

const controller = new AbortController();
const onInterrupt = () => controller.abort(new Error("Build interrupted"));
Deno.addSignalListener("SIGINT", onInterrupt);
const bars = new ProgressBars();

let imageId: string | undefined;
try {
  const build = docker.images.build(directory, {
    tags: tag ? [tag] : [],
    // Values for the Dockerfile's ARGs (the demo's GREETING).
    buildArgs: directoryArg === undefined ? { GREETING: "hello" } : {},
    labels: { "berth.example": "build" },
    signal: controller.signal,
    // BuildKit without the bridge network, which some engines run without.
    ...(buildkit ? { version: "2", networkMode: "none" } as const : {}),
  });
  // The events: step lines and pull progress, drawn as they come.
  for await (const event of build) bars.update(event);
  bars.done();
  // The same stream is also a promise of the result.
  const result = await build;
  imageId = result.imageId;
  console.log(
    `built ${result.imageId}${result.tags.length ? ` as ${result.tags.join(", ")}` : ""}`,
  );
} catch (error) {
  bars.done();
  if (error instanceof DockerStreamError) {
    // A failing step: the engine's message, such as
    // "The command '/bin/sh -c make' returned a non-zero code: 2".
    console.error(`build failed: ${error.message}`);
  } else {
    console.error(error instanceof Error ? error.message : error);
  }
  Deno.exitCode = 1;
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
  if (directoryArg === undefined) {
    await Deno.remove(directory, { recursive: true });
    if (imageId) await docker.images.remove(imageId, { force: true });
  }
}
