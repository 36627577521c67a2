/**
 * `docker.images` against the real test engine (everything but the
 * registry, which `registry_test.ts` covers), the progress-stream rules of
 * `ProgressStream` on in-memory sources, and the progress-bar renderer.
 *
 * Images are made with `images.import` from tiny archives written by
 * `tarStream` (one file, labelled `berth.test=1`), so no network is needed.
 */

import assert from "node:assert/strict";
import {
  DockerApiError,
  DockerConflictError,
  DockerError,
  DockerNotFoundError,
  DockerStreamError,
} from "../../mod.ts";
import { ApiClient } from "../../src/api/_client.ts";
import { Images, type ImagesOptions } from "../../src/api/images.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, formatHost, parseHost } from "../../src/http/transport.ts";
import { type DockerObserver, recordObserver } from "../../src/observer.ts";
import { type ProgressCollector, ProgressStream } from "../../src/stream/progress.ts";
import { readTar, tarStream } from "../../src/stream/tar.ts";
import { humanSize, ProgressBars } from "../../src/terminal/progress_bars.ts";
import type { CreateImageInfo } from "../../src/types/mod.ts";
import { TEST_LABELS, testDocker, testEnv, testImage, text, uniqueName } from "./_docker.ts";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * An `Images` namespace on its own client (the test does not depend on how
 * `Docker` wires it); closed with `await using`.
 */
function openImages(
  options: ImagesOptions & { host?: string; observer?: DockerObserver } = {},
): { images: Images } & AsyncDisposable {
  const address = parseHost(options.host ?? testEnv().host);
  const host = formatHost(address);
  const httpOptions: ConstructorParameters<typeof HttpClient>[0] = {
    connect: createConnector(address, 30_000),
    host,
    hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
  };
  if (options.observer) httpOptions.onRecord = recordObserver(options.observer);
  const http = new HttpClient(httpOptions);
  const images = new Images(new ApiClient(http), { credentials: options.credentials });
  return {
    images,
    [Symbol.asyncDispose]: () => {
      http.close();
      return Promise.resolve();
    },
  };
}

/** A root filesystem of one executable-looking file `/x`. */
function oneFileArchive(content = "berth\n"): ReadableStream<Uint8Array> {
  return tarStream([{ name: "x", body: content, mode: 0o755, mtime: 0 }]);
}

/** Imports a labelled one-file image; returns its id. */
async function importImage(
  images: Images,
  options: { repo?: string; tag?: string; labels?: Record<string, string> } = {},
): Promise<string> {
  const labels = { ...TEST_LABELS, ...options.labels };
  const changes = ['CMD ["/x"]', ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${v}`)];
  const call: Parameters<Images["import"]>[1] = { changes, message: "berth test import" };
  if (options.repo) call.repo = options.repo;
  if (options.tag) call.tag = options.tag;
  const { id } = await images.import(oneFileArchive(crypto.randomUUID()), call);
  return id;
}

/** Removes images, ignoring those already gone. */
async function removeImages(images: Images, ...names: string[]): Promise<void> {
  for (const name of names) {
    await images.remove(name, { force: true }).catch((error) => {
      if (!(error instanceof DockerNotFoundError)) throw error;
    });
  }
}

/** Reads all of a byte stream. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Names of the entries of a tar. */
async function tarNames(bytes: Uint8Array): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of readTar(ReadableStream.from([bytes]))) {
    names.push(entry.name);
    await entry.body.cancel();
  }
  return names;
}

/** The JSON of one tar entry. */
async function tarJson(bytes: Uint8Array, name: string): Promise<unknown> {
  for await (const entry of readTar(ReadableStream.from([bytes]))) {
    if (entry.name === name) return JSON.parse(await new Response(entry.body).text());
    await entry.body.cancel();
  }
  throw new Error(`${name} is not in the archive`);
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

/**
 * Waits for what a call returned: a promise (or a progress stream, which is
 * one), or a plain stream's first read. Bad arguments fail there, never at
 * the call.
 */
async function settle(result: unknown): Promise<void> {
  if (result instanceof ReadableStream && !("then" in result)) await result.getReader().read();
  else await result;
}

Deno.test("Images methods reject empty names with TypeError before any I/O", async (t) => {
  // A socket that does not exist: any I/O would fail with a connection error.
  await using client = openImages({ host: "unix:///nonexistent/berth-no-engine.sock" });
  const images = client.images;
  const calls: Record<string, (name: string) => unknown> = {
    inspect: (name) => images.inspect(name),
    history: (name) => images.history(name),
    pull: (name) => images.pull(name),
    push: (name) => images.push(name),
    "tag (source)": (name) => images.tag(name, "berth-test/x"),
    "tag (target)": (name) => images.tag("berth-test/x", name),
    remove: (name) => images.remove(name),
    search: (name) => images.search(name),
    commit: (name) => images.commit(name),
    get: (name) => images.get(name),
    "get (list)": (name) => images.get([name]),
  };
  for (const [name, call] of Object.entries(calls)) {
    await t.step(name, async () => {
      for (const value of ["", " "]) {
        await assert.rejects(() => settle(call(value)), TypeError, `${name}(${value})`);
      }
    });
  }
  await t.step("other bad arguments", async () => {
    const bad: Array<[string, () => unknown]> = [
      ["get([])", () => images.get([])],
      ["pull a//b", () => images.pull("a//b")],
      ["push a/../b", () => images.push("a/../b")],
      ["pull app:", () => images.pull("app:")],
      ["pull allTags with a tag", () => images.pull("app:1", { allTags: true })],
      ["pull bad auth", () => images.pull("app", { auth: "me:pw" as never })],
      ["push a digest", () => images.push(`app@sha256:${"a".repeat(64)}`)],
      ["push allTags with a tag", () => images.push("app:1", { allTags: true })],
      ["tag twice", () => images.tag("app", "other:1", { tag: "2" })],
      ["import a string", () => images.import("x.tar" as never)],
      ["import changes", () => images.import(new Uint8Array(0), { changes: "CMD x" as never })],
      ["load null", () => images.load(null as never)],
      ["commit changes", () => images.commit("c", { changes: [1] as never })],
    ];
    for (const [label, call] of bad) {
      await assert.rejects(() => settle(call()), TypeError, label);
    }
    await assert.rejects(async () => await images.search("x", { limit: 0 }), RangeError);
  });
});

// ---------------------------------------------------------------------------
// Engine calls
// ---------------------------------------------------------------------------

Deno.test("images.import makes a one-file image that inspect, history and list show", async () => {
  await using client = openImages();
  const { images } = client;
  const repo = uniqueName("import");
  const events: CreateImageInfo[] = [];
  try {
    const imported = images.import(oneFileArchive(), {
      repo,
      tag: "v1",
      changes: ['CMD ["/x"]', "ENV MODE=test", "LABEL berth.test=1"],
      message: "imported by berth",
      onProgress: (event) => events.push(event),
    });
    const { id } = await imported;
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(events.some((event) => event.status === id), JSON.stringify(events));

    const inspected = await images.inspect(`${repo}:v1`);
    assert.equal(inspected.Id, id);
    assert.deepEqual(inspected.RepoTags, [`${repo}:v1`]);
    assert.deepEqual(inspected.Config?.Cmd, ["/x"]);
    assert.ok(inspected.Config?.Env?.includes("MODE=test"));
    assert.equal(inspected.Config?.Labels?.["berth.test"], "1");
    assert.equal(inspected.Comment, "imported by berth");

    const history = await images.history(`${repo}:v1`);
    assert.equal(history.length, 1);
    assert.equal(history[0]!.Id, id);
    assert.equal(history[0]!.Comment, "imported by berth");
    assert.deepEqual(history[0]!.Tags, [`${repo}:v1`]);

    const byReference = await images.list({ filters: { reference: [repo] } });
    assert.deepEqual(byReference.map((image) => image.Id), [id]);
    const byLabel = await images.list({
      filters: { reference: [`${repo}:*`], label: ["berth.test=1"] },
      digests: true,
    });
    assert.deepEqual(byLabel.map((image) => image.Id), [id]);
    assert.ok(Array.isArray(byLabel[0]!.RepoDigests ?? []), "digests asked for");
    assert.deepEqual(
      await images.list({ filters: { reference: [repo], label: ["no-such-label"] } }),
      [],
    );
    const all = await images.list({ all: true });
    assert.ok(all.some((image) => image.Id === id));
  } finally {
    await removeImages(images, `${repo}:v1`);
  }
});

Deno.test("images.import of an archive that is not a tar answers a DockerApiError", async () => {
  await using client = openImages();
  const error = await client.images.import(new TextEncoder().encode("not a tar archive")).then(
    () => assert.fail("the import should fail"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof DockerApiError, String(error));
  assert.match(error.message, /^Cannot import an image: engine answered 500 /);
});

Deno.test("images.tag and remove: untag, delete, force for an id with two tags, noprune", async () => {
  await using client = openImages();
  const { images } = client;
  const repo = uniqueName("tag");
  try {
    const id = await importImage(images, { repo, tag: "one" });
    await images.tag(`${repo}:one`, repo, { tag: "two" });
    await images.tag(id, `${repo}:three`);
    assert.deepEqual(
      (await images.inspect(id)).RepoTags?.toSorted(),
      [`${repo}:one`, `${repo}:three`, `${repo}:two`],
    );
    assert.deepEqual(await images.remove(`${repo}:three`), [{ Untagged: `${repo}:three` }]);

    // An id naming an image with several tags needs force.
    const conflict = await images.remove(id).then(() => undefined, (e: unknown) => e);
    assert.ok(conflict instanceof DockerConflictError, String(conflict));
    assert.match(
      conflict.message,
      /^Cannot remove image "sha256:[0-9a-f]+": engine answered 409 Conflict: /,
    );

    const removed = await images.remove(id, { force: true, noprune: true });
    assert.ok(removed.some((item) => item.Untagged === `${repo}:one`), JSON.stringify(removed));
    assert.ok(removed.some((item) => item.Deleted === id), JSON.stringify(removed));
    await assert.rejects(() => images.inspect(id), DockerNotFoundError);
  } finally {
    await removeImages(images, `${repo}:one`, `${repo}:two`, `${repo}:three`);
  }
});

Deno.test("images.tag rejects an invalid target with a DockerApiError", async () => {
  await using client = openImages();
  const repo = uniqueName("badtag");
  try {
    await importImage(client.images, { repo, tag: "v1" });
    const error = await client.images.tag(`${repo}:v1`, "UPPER/case").then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DockerApiError, String(error));
    // 400 on recent engines, 500 on 20.10.
    assert.ok(error.status === 400 || error.status === 500, String(error.status));
    assert.match(error.engineMessage, /invalid reference format/);
  } finally {
    await removeImages(client.images, `${repo}:v1`);
  }
});

Deno.test("images.get then load: the archive lists manifest.json and loads back under its new tag", async () => {
  await using client = openImages();
  const { images } = client;
  const repo = uniqueName("save");
  try {
    const id = await importImage(images, { repo, tag: "v1" });
    await images.tag(`${repo}:v1`, `${repo}:copy`);
    const archive = await readAll(images.get(`${repo}:copy`));
    const names = await tarNames(archive);
    assert.ok(names.includes("manifest.json"), names.join());
    const manifest = await tarJson(archive, "manifest.json") as Array<{ RepoTags: string[] }>;
    assert.deepEqual(manifest.map((entry) => entry.RepoTags), [[`${repo}:copy`]]);

    await images.remove(`${repo}:copy`);
    await assert.rejects(() => images.inspect(`${repo}:copy`), DockerNotFoundError);
    const events: unknown[] = [];
    const loaded = images.load(ReadableStream.from([archive]), {
      onProgress: (event) => events.push(event),
    });
    assert.deepEqual(await loaded, { images: [`${repo}:copy`] });
    assert.ok(events.length >= 1);
    assert.equal((await images.inspect(`${repo}:copy`)).Id, id);
    // quiet: only the "Loaded image" line.
    const quiet: unknown[] = [];
    for await (const event of images.load(archive, { quiet: true })) quiet.push(event);
    assert.deepEqual(quiet, [{ stream: `Loaded image: ${repo}:copy\n` }]);

    // Several images in one archive.
    const other = uniqueName("save2");
    try {
      await importImage(images, { repo: other, tag: "v1" });
      const both = await readAll(images.get([`${repo}:v1`, `${other}:v1`]));
      const entries = await tarJson(both, "manifest.json") as Array<{ RepoTags: string[] }>;
      assert.deepEqual(
        entries.flatMap((entry) => entry.RepoTags).toSorted(),
        [`${other}:v1`, `${repo}:v1`].toSorted(),
      );
    } finally {
      await removeImages(images, `${other}:v1`);
    }
  } finally {
    await removeImages(images, `${repo}:v1`, `${repo}:copy`);
  }
});

Deno.test("images.load of a broken archive rejects with the engine's DockerStreamError", async () => {
  await using client = openImages();
  const load = client.images.load(new TextEncoder().encode("garbage"));
  const error = await load.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof DockerStreamError, String(error));
  assert.match(error.message, /tar/i);
  // Awaiting again gives the same settled error, without reading anything.
  await assert.rejects(async () => await load, (e) => e === error);
});

Deno.test("images.commit saves a container's change; a container of the new image sees it", async () => {
  await using docker = testDocker();
  await using client = openImages();
  const { images } = client;
  const repo = uniqueName("commit");
  const { Id: container } = await docker.containers.create({
    Image: testImage(),
    Cmd: ["sh", "-c", "echo committed > /berth.txt"],
    Labels: { ...TEST_LABELS },
  });
  try {
    await docker.containers.start(container);
    await docker.containers.wait(container);
    const { Id } = await images.commit(container, {
      repo,
      tag: "snap",
      comment: "berth commit",
      author: "berth <berth@example.com>",
      pause: false,
      changes: ['CMD ["cat", "/berth.txt"]', "ENV COMMITTED=1"],
      config: { Labels: { ...TEST_LABELS, "berth.commit": "1" } },
    });
    assert.match(Id, /^sha256:[0-9a-f]{64}$/);
    const inspected = await images.inspect(`${repo}:snap`);
    assert.equal(inspected.Id, Id);
    assert.equal(inspected.Comment, "berth commit");
    assert.equal(inspected.Author, "berth <berth@example.com>");
    assert.deepEqual(inspected.Config?.Cmd, ["cat", "/berth.txt"]);
    assert.ok(inspected.Config?.Env?.includes("COMMITTED=1"));
    assert.equal(inspected.Config?.Labels?.["berth.commit"], "1");

    const run = await docker.containers.run(
      { Image: `${repo}:snap`, Labels: { ...TEST_LABELS } },
      { remove: true },
    );
    assert.equal(run.exitCode, 0);
    assert.equal(text(run.stdout), "committed\n");
  } finally {
    await docker.containers.remove(container, { force: true }).catch(() => {});
    await removeImages(images, `${repo}:snap`);
  }
});

Deno.test("images.prune with a label filter removes only the labelled dangling image", async () => {
  await using client = openImages();
  const { images } = client;
  const mark = uniqueName("prune");
  let pruned: string | undefined;
  let kept: string | undefined;
  try {
    pruned = await importImage(images, { labels: { "berth.prune": mark } });
    kept = await importImage(images, { labels: { "berth.prune": `${mark}-keep` } });
    const result = await images.prune({ filters: { label: [`berth.prune=${mark}`] } });
    assert.deepEqual(result.ImagesDeleted.filter((item) => item.Deleted === pruned).length, 1);
    assert.ok(!result.ImagesDeleted.some((item) => item.Deleted === kept));
    assert.ok(result.SpaceReclaimed >= 0);
    await assert.rejects(() => images.inspect(pruned!), DockerNotFoundError);
    assert.equal((await images.inspect(kept)).Id, kept);
    const again = await images.prune({ filters: { label: [`berth.prune=${mark}`] } });
    assert.deepEqual(again.ImagesDeleted, []);
  } finally {
    await removeImages(images, ...[pruned, kept].filter((id): id is string => id !== undefined));
  }
});

Deno.test("images.search asks Docker Hub through the engine: results, or the engine's DockerApiError offline", async () => {
  // The engine itself queries index.docker.io; on a machine without
  // Internet access (such as CI runners without egress) it answers 500.
  await using client = openImages();
  try {
    const results = await client.images.search("busybox", { limit: 2 });
    assert.ok(Array.isArray(results) && results.length <= 2);
  } catch (error) {
    assert.ok(error instanceof DockerApiError, String(error));
    assert.equal(error.status, 500);
    assert.match(error.message, /^Cannot search images for "busybox": engine answered 500 /);
    assert.match(error.engineMessage, /index\.docker\.io|search/);
  }
});

Deno.test("Images methods answer DockerNotFoundError (or the engine's stream error) for a missing image", async (t) => {
  await using client = openImages();
  const { images } = client;
  const missing = uniqueName("missing");
  const calls: Record<string, () => unknown> = {
    inspect: () => images.inspect(missing),
    history: () => images.history(missing),
    remove: () => images.remove(missing),
    tag: () => images.tag(missing, `${missing}-copy`),
    get: () => images.get(missing),
    "get (list)": () => images.get([missing]),
    commit: () => images.commit(missing),
  };
  for (const [name, call] of Object.entries(calls)) {
    await t.step(name, async () => {
      await assert.rejects(async () => {
        const result = await call();
        if (result instanceof ReadableStream) await result.getReader().read();
      }, DockerNotFoundError);
    });
  }
  await t.step("push (the engine reports it inside the stream)", async () => {
    const error = await images.push(missing).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof DockerStreamError, String(error));
    assert.match(error.message, /does not exist locally/);
  });
});

Deno.test("images.remove of an image a container uses answers DockerConflictError", async () => {
  await using docker = testDocker();
  await using client = openImages();
  const { images } = client;
  const repo = uniqueName("inuse");
  let container: string | undefined;
  try {
    await importImage(images, { repo, tag: "v1" });
    ({ Id: container } = await docker.containers.create({
      Image: `${repo}:v1`,
      Labels: { ...TEST_LABELS },
    }));
    const error = await images.remove(`${repo}:v1`).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof DockerConflictError, String(error));
    assert.match(
      error.message,
      /^Cannot remove image "[^"]+": engine answered 409 Conflict: .*container/,
    );
  } finally {
    if (container) await docker.containers.remove(container, { force: true }).catch(() => {});
    await removeImages(images, `${repo}:v1`);
  }
});

Deno.test("images.load with an aborted signal rejects with the signal's reason", async () => {
  await using client = openImages();
  const reason = new Error("stop loading");
  const controller = new AbortController();
  controller.abort(reason);
  const load = client.images.load(new Uint8Array(1024), { signal: controller.signal });
  await assert.rejects(async () => await load, (e) => e === reason);
});

// ---------------------------------------------------------------------------
// ProgressStream rules (in-memory sources)
// ---------------------------------------------------------------------------

interface Event {
  n: number;
}

/** A source of `count` events that records cancellation; fails at `failAt` if given. */
function source(count: number, failAt?: number) {
  const state = { pulled: 0, cancelled: false as boolean, reason: undefined as unknown };
  const stream = new ReadableStream<Event>({
    pull(controller) {
      if (state.pulled === failAt) {
        controller.error(new DockerStreamError("engine says no", { message: "engine says no" }));
        return;
      }
      if (state.pulled === count) {
        controller.close();
        return;
      }
      controller.enqueue({ n: state.pulled++ });
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

/** Sums the events. */
function sum(): ProgressCollector<Event, number> {
  let total = 0;
  return { push: (event) => void (total += event.n), finish: () => total };
}

Deno.test("ProgressStream: await reads an unread stream to its end; onProgress sees each event", async () => {
  const { stream, state } = source(4);
  const seen: number[] = [];
  const progress = new ProgressStream(stream, sum(), { onProgress: (e) => seen.push(e.n) });
  assert.equal(state.pulled, 0, "nothing is read before it is awaited");
  assert.equal(await progress, 6);
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.equal(await progress, 6, "awaiting again gives the same result");
  assert.equal(state.pulled, 4);
});

Deno.test("ProgressStream: iterate then await gives the events once and the result", async () => {
  const { stream } = source(3);
  const progress = new ProgressStream(stream, sum());
  const seen: number[] = [];
  for await (const event of progress) seen.push(event.n);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(await progress, 3);
  // The stream is consumed: a second iteration sees nothing.
  for await (const _ of progress) assert.fail("events are delivered once");
});

Deno.test("ProgressStream: await while a reader holds the stream waits for that reader", async () => {
  const { stream } = source(3);
  const progress = new ProgressStream(stream, sum());
  const reader = progress.getReader();
  let settled = false;
  const result = progress.then((value) => (settled = true, value));
  assert.equal((await reader.read()).value?.n, 0);
  await Promise.resolve();
  assert.equal(settled, false);
  while (!(await reader.read()).done) { /* read on */ }
  assert.equal(await result, 3);
});

Deno.test("ProgressStream: an error line rejects both the reader and the result", async () => {
  const { stream } = source(5, 2);
  const progress = new ProgressStream(stream, sum());
  const seen: number[] = [];
  const error = await (async () => {
    for await (const event of progress) seen.push(event.n);
  })().then(() => undefined, (e: unknown) => e);
  assert.deepEqual(seen, [0, 1], "events before the error are delivered");
  assert.ok(error instanceof DockerStreamError);
  await assert.rejects(async () => await progress, (e) => e === error);
  await assert.rejects(() => progress.catch((e) => Promise.reject(e)), (e) => e === error);
});

Deno.test("ProgressStream: an error line names the call; engineMessage keeps the engine's words", async () => {
  const { stream } = source(5, 1);
  const progress = new ProgressStream(stream, sum(), { action: 'push image "reg/app:1"' });
  const error = await progress.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof DockerStreamError);
  assert.equal(error.message, 'Cannot push image "reg/app:1": engine says no');
  assert.equal(error.engineMessage, "engine says no");
  assert.deepEqual(error.detail, { message: "engine says no" });
  // Without an action (a stream of the caller's own) the error passes as it is.
  const plain = await new ProgressStream(source(5, 1).stream, sum()).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(plain instanceof DockerStreamError);
  assert.equal(plain.message, "engine says no");
});

Deno.test("ProgressStream: values({ preventCancel }) then await drains the rest", async () => {
  const { stream, state } = source(5);
  const seen: number[] = [];
  const progress = new ProgressStream(stream, sum(), { onProgress: (e) => seen.push(e.n) });
  for await (const event of progress.values({ preventCancel: true })) {
    if (event.n === 1) break;
  }
  assert.equal(state.cancelled, false);
  assert.equal(await progress, 10);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
});

Deno.test("ProgressStream: break cancels the source; the result rejects with a DockerError", async () => {
  const { stream, state } = source(5);
  const progress = new ProgressStream(stream, sum(), { action: 'pull image "x"' });
  for await (const event of progress) if (event.n === 1) break;
  assert.equal(state.cancelled, true);
  await assert.rejects(
    async () => await progress,
    DockerError,
    'Cannot pull image "x": the stream was cancelled before it ended',
  );
});

Deno.test("ProgressStream: cancel() while await drains closes the source with the reason", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const state = { cancelled: undefined as unknown };
  const stream = new ReadableStream<Event>({
    async pull(controller) {
      await gate;
      controller.enqueue({ n: 1 });
    },
    cancel(reason) {
      state.cancelled = reason;
      release();
    },
  }, { highWaterMark: 0 });
  const progress = new ProgressStream(stream, sum());
  const result = progress.then(() => "resolved", (e: unknown) => e);
  assert.equal(progress.locked, true, "await drains through its own reader");
  const reason = new Error("enough");
  await progress.cancel(reason);
  assert.equal(state.cancelled, reason);
  assert.equal(await result, reason);
});

Deno.test("ProgressStream: an onProgress error fails the stream and closes the source", async () => {
  const { stream, state } = source(5);
  const boom = new Error("callback failed");
  const progress = new ProgressStream(stream, sum(), {
    onProgress: (event) => {
      if (event.n === 2) throw boom;
    },
  });
  await assert.rejects(async () => await progress, (e) => e === boom);
  assert.equal(state.cancelled, true);
  assert.equal(state.reason, boom);
});

Deno.test("ProgressStream: a failed source promise rejects the first read and the result", async () => {
  const failure = new DockerError("no credentials");
  const progress = new ProgressStream<Event, number>(Promise.reject(failure), sum());
  await assert.rejects(() => progress.getReader().read(), (e) => e === failure);
  await assert.rejects(async () => await progress, (e) => e === failure);
  // A failed stream nobody awaits reports no unhandled rejection (the test would fail).
  new ProgressStream<Event, number>(Promise.reject(new Error("ignored")), sum());
  await new Promise((resolve) => setTimeout(resolve, 10));
});

Deno.test("ProgressStream: mapError rewrites source errors for readers and the result", async () => {
  const { stream } = source(5, 1);
  const progress = new ProgressStream(stream, sum(), {
    mapError: (error) => new DockerError(`mapped: ${(error as Error).message}`),
  });
  await assert.rejects(async () => await progress, DockerError, "mapped: engine says no");
});

Deno.test("ProgressStream: promise adoption hands over the result (thenable pitfall)", async () => {
  // Promise.resolve (and an async function's return) adopts a thenable.
  assert.equal(await Promise.resolve(new ProgressStream(source(3).stream, sum())), 3);
  const { stream } = await Promise.resolve({ stream: new ProgressStream(source(3).stream, sum()) });
  assert.ok(stream instanceof ReadableStream, "inside an object, the stream itself is passed on");
  assert.equal(await stream, 3);
});

// ---------------------------------------------------------------------------
// Progress bars
// ---------------------------------------------------------------------------

Deno.test("ProgressBars redraws bars in place on a terminal and prints messages above", () => {
  let out = "";
  const decoder = new TextDecoder();
  const output = {
    // Writes at most 7 bytes a call: the renderer must complete partial writes.
    writeSync: (bytes: Uint8Array) => {
      const written = Math.min(bytes.length, 7);
      out += decoder.decode(bytes.subarray(0, written), { stream: true });
      return written;
    },
  };
  const bars = new ProgressBars({ output, terminal: true, columns: 80, interval: 0 });
  bars.update({ id: "latest", status: "Pulling from library/busybox" });
  bars.update({
    id: "aaa",
    status: "Downloading",
    progressDetail: { current: 500_000, total: 1_000_000 },
  });
  bars.update({ id: "aaa", status: "Pull complete" });
  bars.update({ status: "Digest: sha256:0" });
  bars.done();
  assert.match(out, /aaa: Downloading \[=+> +\] 500kB\/1MB/);
  assert.ok(out.includes("\x1b[2A"), "moves up over the two bars");
  assert.ok(
    out.endsWith("\r\x1b[2Klatest: Pulling from library/busybox\n\r\x1b[2Kaaa: Pull complete\n"),
  );
  assert.ok(out.includes("Digest: sha256:0\n"));
  for (const line of out.split("\n")) {
    // deno-lint-ignore no-control-regex
    assert.ok(line.replace(/\x1b\[[0-9;]*[A-Za-z]|\r/g, "").length < 80, line);
  }
  assert.equal(humanSize(1_234_567_890), "1.23GB");
});
