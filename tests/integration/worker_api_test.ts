/**
 * Every kind of stream through the public API with `workers` on: frames
 * (logs), bytes (export, image save), JSON (stats, load and build progress)
 * give the same results as on the main thread.
 */

import assert from "node:assert/strict";
import { collectFrames, type Frame, tarStream } from "../../mod.ts";
import { TEST_LABELS, testDocker, testImage, uniqueName, withContainer } from "./_docker.ts";

async function digest(stream: ReadableStream<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    parts.push(part.slice());
    total += part.length;
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return `${total}:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function frames(stream: ReadableStream<Frame>): Promise<string> {
  const { stdout, stderr } = await collectFrames(stream);
  return `${stdout.length}/${stderr.length}:${new TextDecoder().decode(stdout.slice(0, 64))}`;
}

Deno.test("workers: logs, export and image save give the same bytes as on the main thread", async () => {
  await using docker = testDocker({ workers: { size: 2 } });
  await withContainer(docker, {
    Cmd: ["sh", "-c", "seq 1 20000; seq 1 500 >&2; head -c 3000000 /dev/zero | tr '\\0' 'z'"],
  }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const inWorker = await frames(docker.containers.logs(id, { tty: false }));
    const here = await frames(docker.containers.logs(id, { tty: false, worker: false }));
    assert.equal(inWorker, here);
    assert.match(inWorker, /^3108894\/1892:1\n2\n3\n/);
    assert.equal(
      await digest(docker.containers.export(id)),
      await digest(docker.containers.export(id, { worker: false })),
    );
  });
  assert.equal(
    await digest(docker.images.get(testImage())),
    await digest(docker.images.get(testImage(), { worker: false })),
  );
});

Deno.test("workers: stats samples and load/build progress decode in a worker", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  await withContainer(docker, { Cmd: ["sleep", "30"] }, async (id) => {
    await docker.containers.start(id);
    const samples = [];
    for await (const sample of docker.containers.statsStream(id)) {
      samples.push(sample);
      if (samples.length === 2) break;
    }
    assert.ok(samples.every((s) => typeof s.memory_stats?.usage === "number"));
  });
  const tag = `${uniqueName("wload")}:v1`;
  try {
    await docker.images.tag(testImage(), tag.split(":")[0]!, { tag: "v1" });
    const saved = new Uint8Array(await new Response(docker.images.get(tag)).arrayBuffer());
    await docker.images.remove(tag);
    const loaded = await docker.images.load(saved);
    assert.deepEqual(loaded.images, [tag]);
  } finally {
    await docker.images.remove(tag, { force: true }).catch(() => {});
  }
  const built = uniqueName("wbuild");
  const context = tarStream([{
    name: "Dockerfile",
    body: `FROM ${testImage()}\nLABEL berth.test=1\nRUN echo built > /built\n`,
  }]);
  try {
    const events: string[] = [];
    const build = docker.images.build(context, {
      tags: [`${built}:latest`],
      labels: TEST_LABELS,
      onProgress: (event) => {
        if (event.stream) events.push(event.stream);
      },
    });
    const { imageId } = await build;
    assert.match(imageId, /^sha256:/);
    assert.ok(events.some((line) => line.includes("RUN echo built")));
  } finally {
    await docker.images.remove(`${built}:latest`, { force: true }).catch(() => {});
  }
});
