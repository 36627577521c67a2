/**
 * Pulls an image and draws one progress bar per layer, like `docker pull`;
 * prints the digest once the image is there. Ctrl-C cancels the pull (the
 * engine stops it when the connection closes).
 *
 * ```sh
 * deno run --allow-read=/var/run/docker.sock --allow-write=/var/run/docker.sock \
 *   --allow-net=unix:/var/run/docker.sock --allow-env=DOCKER_HOST \
 *   examples/pull.ts [image]
 * ```
 *
 * For a private registry, pass the credentials of `docker login` with
 * `new Docker({ credentials: "docker-config" })` (see `push_private.ts` for
 * the flags that needs).
 *
 * @module
 */

import { Docker, ProgressBars } from "../mod.ts";

const image = Deno.args[0] ?? "busybox:latest";
const controller = new AbortController();
const onInterrupt = () => controller.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onInterrupt);

await using docker = new Docker();
const bars = new ProgressBars();
try {
  const pull = docker.images.pull(image, { signal: controller.signal });
  // The events: one bar per layer id, other lines printed above the bars.
  for await (const event of pull) bars.update(event);
  bars.done();
  // The same object is a promise of the result: the image now exists.
  const { image: pulled, digest, status } = await pull;
  console.log(status || `Pulled ${pulled}`);
  if (digest) console.log(`Digest: ${digest}`);
  const { Id, Size } = await docker.images.inspect(pulled);
  console.log(`${Id} (${((Size ?? 0) / 1e6).toFixed(1)} MB)`);
} catch (error) {
  bars.done();
  if (!controller.signal.aborted) throw error;
  console.log(`pull cancelled: ${controller.signal.reason}`);
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
}
