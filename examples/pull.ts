/**
 * Pulls an image and draws one progress bar per layer, like `docker pull`
 * (the engine's `Digest:` and `Status:` lines included), then prints the
 * image's id and size. Ctrl-C cancels the pull (the engine stops it when
 * the connection closes). A failure is one line on stderr and exit code 1.
 *
 * ```sh
 * deno run --allow-read=/var/run/docker.sock --allow-write=/var/run/docker.sock \
 *   --allow-net=unix:/var/run/docker.sock --allow-env=DOCKER_HOST \
 *   examples/pull.ts [image]
 * ```
 *
 * From a private registry, with the credentials of `docker login`: allow
 * what reading the Docker config needs, and the script uses it
 * (`credentials: "docker-config"`; see `push_private.ts` about credential
 * helpers).
 *
 * ```sh
 * deno run --allow-read=/var/run/docker.sock,$HOME/.docker --allow-write=/var/run/docker.sock \
 *   --allow-net=unix:/var/run/docker.sock --allow-env=DOCKER_HOST,DOCKER_CONFIG,HOME \
 *   examples/pull.ts registry.example.com:5000/tools/busybox:1
 * ```
 *
 * @module
 */

import { Docker, DockerError, ProgressBars } from "../mod.ts";

const image = Deno.args[0] ?? "busybox:latest";
const controller = new AbortController();
const onInterrupt = () => controller.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onInterrupt);

/** Whether this script may read the Docker config (never prompts). */
async function mayReadDockerConfig(): Promise<boolean> {
  // berth reads DOCKER_CONFIG, else HOME: it needs both.
  for (const variable of ["DOCKER_CONFIG", "HOME"]) {
    const { state } = await Deno.permissions.query({ name: "env", variable });
    if (state !== "granted") return false;
  }
  return true;
}

await using docker = new Docker(
  await mayReadDockerConfig() ? { credentials: "docker-config" } : {},
);
const bars = new ProgressBars();
try {
  const pull = docker.images.pull(image, { signal: controller.signal });
  // The events: one bar per layer id, other lines printed above the bars.
  for await (const event of pull) bars.update(event);
  bars.done();
  // The same object is a promise of the result: the image now exists.
  const { image: pulled } = await pull;
  const { Id, Size } = await docker.images.inspect(pulled);
  console.log(`${Id} (${((Size ?? 0) / 1e6).toFixed(1)} MB)`);
} catch (error) {
  bars.done();
  if (controller.signal.aborted) {
    console.log(`pull cancelled: ${controller.signal.reason}`);
  } else if (error instanceof DockerError) {
    // Engine and registry failures (not found, unauthorized, ...), one line.
    console.error(`pull failed: ${error.message}`);
    Deno.exitCode = 1;
  } else {
    throw error;
  }
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
}
