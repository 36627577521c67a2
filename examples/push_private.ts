/**
 * Tags a local image for a private registry and pushes it with the
 * credentials of `docker login`: the Docker config's `auths`, or the
 * credential helper it names (`credHelpers`, `credsStore`).
 *
 * ```sh
 * docker login registry.example.com:5000    # once, with the docker CLI
 * deno run \
 *   --allow-read=/var/run/docker.sock,$HOME/.docker \
 *   --allow-write=/var/run/docker.sock \
 *   --allow-net=unix:/var/run/docker.sock \
 *   --allow-env=DOCKER_HOST,DOCKER_CONFIG,HOME \
 *   examples/push_private.ts busybox:latest registry.example.com:5000/tools/busybox:1
 * # with a credential helper in the config (here "desktop"), also:
 * #   --allow-run=docker-credential-desktop
 * ```
 *
 * The flags:
 * - `--allow-read`, `--allow-write`, `--allow-net` on the engine socket;
 * - `--allow-env=DOCKER_CONFIG,HOME` to find the config (`$DOCKER_CONFIG/config.json`,
 *   else `~/.docker/config.json`), and `--allow-read` on its directory;
 * - `--allow-run=docker-credential-<name>` only when the config names a
 *   credential helper (`credsStore: "desktop"`, `credHelpers`); without it
 *   berth says which flag is missing rather than prompting.
 *
 * @module
 */

import { Docker, DockerStreamError, ProgressBars } from "../mod.ts";

const [source, target] = Deno.args;
if (!source || !target) {
  console.error("usage: push_private.ts <local image> <registry/repository:tag>");
  Deno.exit(2);
}

await using docker = new Docker({ credentials: "docker-config" });
const colon = target.lastIndexOf(":");
const [repository, tag] = colon > target.lastIndexOf("/")
  ? [target.slice(0, colon), target.slice(colon + 1)]
  : [target, "latest"];
await docker.images.tag(source, repository, { tag });

const bars = new ProgressBars();
try {
  // X-Registry-Auth comes from the Docker config; it never shows up in
  // errors or in observer events.
  const { digest, size } = await docker.images.push(`${repository}:${tag}`, {
    onProgress: (event) => bars.update(event),
  });
  bars.done();
  console.log(`${repository}:${tag}: digest: ${digest} size: ${size}`);
} catch (error) {
  bars.done();
  if (error instanceof DockerStreamError && /unauthorized|no basic auth/.test(error.message)) {
    console.error(`The registry refused the push: ${error.message}`);
    console.error(`Log in first: docker login ${repository.split("/")[0]}`);
    Deno.exit(1);
  }
  throw error;
}
