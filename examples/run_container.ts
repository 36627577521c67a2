/**
 * Runs a command in a fresh container, like `docker run --rm`, and prints
 * its exit code and output.
 *
 * ```sh
 * deno run --allow-all examples/run_container.ts [image] [command...]
 * ```
 *
 * @module
 */

import { Docker } from "../mod.ts";

const [image = "busybox:latest", ...cmd] = Deno.args;
const command = cmd.length
  ? cmd
  : ["sh", "-c", "echo hello from $(hostname); echo oops >&2; exit 3"];

await using docker = new Docker();
const decoder = new TextDecoder();

// create + attach + start + wait, output split into stdout and stderr; removed afterwards.
const { id, exitCode, stdout, stderr } = await docker.containers.run(
  { Image: image, Cmd: command, Labels: { "berth.example": "run_container" } },
  { remove: true, signal: AbortSignal.timeout(60_000) },
);

console.log(`container ${id.slice(0, 12)} exited with ${exitCode}`);
console.log(`stdout: ${JSON.stringify(decoder.decode(stdout))}`);
console.log(`stderr: ${JSON.stringify(decoder.decode(stderr))}`);
