/**
 * Every kind of stream through the public API with `workers` on: frames
 * (logs), bytes (export, image save, archive downloads), JSON (stats, load
 * and build progress) give the same results as on the main thread. Attach
 * sessions in workers: `worker_attach_test.ts`.
 */

import assert from "node:assert/strict";
import { collectFrames, DockerNotFoundError, type Frame, tarStream } from "../../mod.ts";
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

    // BuildKit's records are decoded on this thread, after the worker.
    const logs: string[] = [];
    const buildkit = docker.images.build(
      tarStream([{
        name: "Dockerfile",
        body: `FROM ${testImage()}\nRUN echo built-by-buildkit # ${crypto.randomUUID()}\n`,
      }]),
      {
        version: "2",
        networkMode: "none",
        labels: TEST_LABELS,
        onProgress: (event) => {
          for (const log of event.buildkit?.logs ?? []) {
            logs.push(new TextDecoder().decode(log.data));
          }
        },
      },
    );
    const kit = await buildkit;
    await docker.images.remove(kit.imageId, { force: true }).catch(() => {});
    assert.deepEqual(logs, ["built-by-buildkit\n"]);
  } finally {
    await docker.images.remove(`${built}:latest`, { force: true }).catch(() => {});
  }
});

Deno.test("workers: getArchive gives the same stat and bytes as on the main thread", async () => {
  await using docker = testDocker({ workers: { size: 2 } });
  const script = "head -c 4194304 /dev/urandom > /data.bin && mkdir /dir && " +
    "head -c 1000000 /dev/urandom > /dir/a && echo small > /dir/b && sha256sum /data.bin";
  await withContainer(docker, { Cmd: ["sh", "-c", script] }, async (id) => {
    await docker.containers.start(id);
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
    for (const path of ["/data.bin", "/dir"]) {
      // The engine holds the container's lock until a download's body is
      // closed: one download at a time.
      const inWorker = await docker.containers.getArchive(id, path);
      const workerDigest = await digest(inWorker.body);
      const here = await docker.containers.getArchive(id, path, { worker: false });
      assert.deepEqual(inWorker.stat, here.stat);
      assert.equal(workerDigest, await digest(here.body));
    }
    // And the file's bytes in the worker's tar are the file's bytes.
    const { stat, body } = await docker.containers.getArchive(id, "/data.bin");
    assert.equal(stat.name, "data.bin");
    assert.equal(stat.size, 4194304);
    const tar = new Uint8Array(await new Response(body).arrayBuffer());
    const data = tar.subarray(512, 512 + stat.size); // after the one 512-byte header
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
    const { stdout } = await collectFrames(docker.containers.logs(id, { stderr: false }));
    assert.equal(new TextDecoder().decode(stdout), `${hex}  /data.bin\n`);
  });
});

Deno.test("workers: getArchive with worker: true on a client without workers, and its errors", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["true"] }, async (id) => {
    const { stat, body } = await docker.containers.getArchive(id, "/bin", { worker: true });
    assert.equal(stat.name, "bin");
    assert.ok((stat.mode & 2 ** 31) !== 0, "a directory");
    assert.match(await digest(body), /^\d+:/);
    // Errors reject the call itself, with the same classes.
    await assert.rejects(
      () => docker.containers.getArchive(id, "/no/such/path", { worker: true }),
      DockerNotFoundError,
    );
  });
  await assert.rejects(
    () => docker.containers.getArchive(uniqueName("missing"), "/etc", { worker: true }),
    DockerNotFoundError,
  );
  await assert.rejects(async () => await docker.containers.getArchive("", "/etc"), TypeError);
});

Deno.test("workers: extractArchive downloads in a worker and extracts the same files", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  const dest = await Deno.makeTempDir({ prefix: "berth-wextract-" });
  try {
    await withContainer(docker, {
      Cmd: ["sh", "-c", "mkdir /out && head -c 2000000 /dev/urandom > /out/r && echo hi > /out/t"],
    }, async (id) => {
      await docker.containers.start(id);
      await docker.containers.wait(id);
      const { stat } = await docker.containers.extractArchive(id, "/out", dest);
      assert.equal(stat.name, "out");
      assert.equal(await Deno.readTextFile(`${dest}/out/t`), "hi\n");
      const copied = await Deno.readFile(`${dest}/out/r`);
      const { body } = await docker.containers.getArchive(id, "/out/r", { worker: false });
      const tar = new Uint8Array(await new Response(body).arrayBuffer());
      assert.deepEqual(copied, tar.subarray(512, 512 + 2000000));
    });
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
});
