/**
 * Starts a container that prints a line every 200 ms and follows its logs
 * until it exits; Ctrl-C (or the 30 s timeout) stops following and removes
 * the container.
 *
 * ```sh
 * deno run --allow-all examples/logs_follow.ts [image]
 * ```
 *
 * @module
 */

import { Docker } from "../mod.ts";

const image = Deno.args[0] ?? "busybox:latest";
const controller = new AbortController();
const onInterrupt = () => controller.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onInterrupt);
const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]);

await using docker = new Docker();
const { Id } = await docker.containers.create({
  Image: image,
  Cmd: [
    "sh",
    "-c",
    "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; echo tock $i >&2; sleep 0.2; done",
  ],
  Labels: { "berth.example": "logs_follow" },
});
try {
  await docker.containers.start(Id);
  const decoder = new TextDecoder();
  // Frames arrive as the container writes them; the stream ends when it exits.
  for await (
    const frame of docker.containers.logs(Id, { follow: true, timestamps: true, signal })
  ) {
    const line = decoder.decode(frame.data).trimEnd();
    if (frame.stream === "stderr") console.error(`[stderr] ${line}`);
    else console.log(`[stdout] ${line}`);
  }
  const { StatusCode } = await docker.containers.wait(Id, { signal });
  console.log(`exited with ${StatusCode}`);
} catch (error) {
  if (!signal.aborted) throw error;
  console.log(`stopped following: ${signal.reason}`);
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt); // it would keep the process alive
  await docker.containers.remove(Id, { force: true });
}
