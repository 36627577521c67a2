/**
 * BuildKit builds (`POST /build?version=2`) against the real test engine:
 * the decoded progress records, a cache mount kept between builds, a
 * failing step, secrets served through the session, and cancelling. `networkMode: "none"` keeps the builds off the bridge network
 * (the private test engine runs without one).
 */

import assert from "node:assert/strict";
import { buildImage, type ImageBuildEvent } from "../../src/api/_build.ts";
import type { BuildKitVertex } from "../../src/build/buildkit_trace.ts";
import { DockerStreamError } from "../../src/errors.ts";
import type { DockerCallEvent } from "../../src/observer.ts";
import { testEnv } from "./_env.ts";
import { TEST_LABELS, testImage, uniqueName } from "./_docker.ts";
import { client, contextDir, runIn } from "./_build.ts";

const BUILDKIT = { version: "2", networkMode: "none" } as const;

/** The latest state of every vertex, by digest, and the output of each stream. */
function summarize(events: readonly ImageBuildEvent[]): {
  vertexes: Map<string, BuildKitVertex>;
  output: Map<number, string>;
} {
  const vertexes = new Map<string, BuildKitVertex>();
  const output = new Map<number, string>();
  const decoder = new TextDecoder();
  for (const event of events) {
    for (const vertex of event.buildkit?.vertexes ?? []) vertexes.set(vertex.digest, vertex);
    for (const log of event.buildkit?.logs ?? []) {
      output.set(log.stream, (output.get(log.stream) ?? "") + decoder.decode(log.data));
    }
  }
  return { vertexes, output };
}

Deno.test("a BuildKit build reports decoded steps and RUN output, and keeps its cache mount", async () => {
  using docker = client();
  const name = uniqueName("buildkit");
  const marker = crypto.randomUUID();
  const cache = `berth-test-${marker}`;
  const run = `RUN --mount=type=cache,id=${cache},target=/cache ` +
    `echo "out-$MARKER" && echo "err-$MARKER" >&2 && echo "$MARKER" > /cache/stamp`;
  await using context = await contextDir({
    "Dockerfile": [
      `FROM ${testImage()}`,
      "ARG MARKER",
      run,
      "COPY hello.txt /hello.txt",
      "",
    ].join("\n"),
    "hello.txt": `hello ${marker}\n`,
  });
  const images: string[] = [];
  try {
    const events: ImageBuildEvent[] = [];
    const build = buildImage(docker.api, context.path, {
      ...BUILDKIT,
      tags: [`${name}:1`],
      buildArgs: { MARKER: marker },
      labels: { ...TEST_LABELS, "berth.build": marker },
      noCache: true,
    });
    for await (const event of build) events.push(event);
    const result = await build;
    images.push(result.imageId);

    const traces = events.filter((event) => event.id === "moby.buildkit.trace");
    assert.ok(traces.length > 5, `only ${traces.length} trace records`);
    assert.ok(traces.every((event) => event.buildkit !== undefined), "a record did not decode");
    const { vertexes, output } = summarize(events);
    const names = [...vertexes.values()].map((vertex) => vertex.name);
    // The step is named with its ARG values filled in.
    const runName = `] ${run.replaceAll("$MARKER", marker)}`;
    assert.ok(names.some((step) => step.endsWith(runName)), names.join("\n"));
    assert.ok(
      names.some((step) => /\] COPY hello\.txt \/hello\.txt$/.test(step)),
      names.join("\n"),
    );
    for (const vertex of vertexes.values()) {
      assert.ok(vertex.completed, `${vertex.name} never completed`);
      assert.ok(vertex.started && vertex.started <= vertex.completed, vertex.name);
      assert.equal(vertex.error, undefined);
    }
    // The RUN step's stdout and stderr, apart.
    assert.match(output.get(1) ?? "", new RegExp(`out-${marker}\n`));
    assert.match(output.get(2) ?? "", new RegExp(`err-${marker}\n`));
    // The COPY step depends on the RUN step's vertex.
    const runVertex = [...vertexes.values()].find((vertex) => vertex.name.includes("--mount"))!;
    const copyVertex = [...vertexes.values()].find((vertex) => vertex.name.includes("COPY"))!;
    assert.ok(copyVertex.inputs.includes(runVertex.digest));

    const inspected = await docker.images.inspect(`${name}:1`);
    assert.equal(result.imageId, inspected.Id);
    assert.deepEqual(result.tags, [`${name}:1`]);
    assert.equal(inspected.Config?.Labels?.["berth.build"], marker);
    assert.equal(
      await runIn(docker.containers, result.imageId, "cat /hello.txt"),
      `hello ${marker}\n`,
    );

    // A second build: the unchanged steps come from the cache, and the
    // cache mount still holds what the first build wrote.
    await Deno.writeTextFile(
      `${context.path}/Dockerfile`,
      [
        `FROM ${testImage()}`,
        "ARG MARKER",
        run,
        "COPY hello.txt /hello.txt",
        `RUN --mount=type=cache,id=${cache},target=/cache cat /cache/stamp`,
        "",
      ].join("\n"),
    );
    const again: ImageBuildEvent[] = [];
    const second = await buildImage(docker.api, context.path, {
      ...BUILDKIT,
      buildArgs: { MARKER: marker },
      labels: { ...TEST_LABELS },
      onProgress: (event) => again.push(event),
    });
    images.push(second.imageId);
    const summary = summarize(again);
    const cachedRun = [...summary.vertexes.values()].find((vertex) => vertex.name.includes("echo"));
    assert.equal(cachedRun?.cached, true);
    assert.equal(summary.output.get(1), `${marker}\n`);
  } finally {
    for (const image of images) await docker.images.remove(image, { force: true }).catch(() => {});
  }
});

Deno.test("a failing BuildKit step rejects with the engine's message and marks its vertex", async () => {
  const calls: DockerCallEvent[] = [];
  using docker = client((event) => calls.push(event));
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nRUN echo ${crypto.randomUUID()} && exit 3\n`,
  });
  const events: ImageBuildEvent[] = [];
  const build = buildImage(docker.api, context.path, {
    ...BUILDKIT,
    labels: { ...TEST_LABELS },
    onProgress: (event) => events.push(event),
  });
  const error = await build.then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof DockerStreamError, String(error));
  assert.match(error.message, /exit code: 3/);
  const failed = [...summarize(events).vertexes.values()].filter((vertex) => vertex.error);
  assert.equal(failed.length, 1);
  assert.match(failed[0]!.error!, /exit code: 3/);
  // The engine ended the build itself: nothing to cancel.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(!calls.some((call) => call.path.includes("/build/cancel")));
});

Deno.test("a BuildKit build gets its secrets through the session, and they stay out of the image", async () => {
  using docker = client();
  const value = `secret-${crypto.randomUUID()}`;
  await using context = await contextDir({
    "Dockerfile": [
      `FROM ${testImage()}`,
      "RUN --mount=type=secret,id=token wc -c < /run/secrets/token && cat /run/secrets/token",
      "RUN --mount=type=secret,id=absent,required=false ls /run/secrets/ | wc -l",
      "",
    ].join("\n"),
  });
  const events: ImageBuildEvent[] = [];
  const { imageId } = await buildImage(docker.api, context.path, {
    ...BUILDKIT,
    noCache: true,
    labels: { ...TEST_LABELS },
    secrets: { token: new TextEncoder().encode(value), unused: "x" },
    onProgress: (event) => events.push(event),
  });
  try {
    const output = summarize(events).output.get(1) ?? "";
    assert.match(output, new RegExp(`^${value.length}\n${value}0\n$`));
    assert.equal(
      await runIn(docker.containers, imageId, "ls -A /run/secrets 2>/dev/null | wc -l"),
      "0\n",
    );
    const history = await docker.images.history(imageId);
    assert.ok(!JSON.stringify(history).includes(value));
  } finally {
    await docker.images.remove(imageId, { force: true }).catch(() => {});
  }

  // A required secret berth was not given fails the step, with the engine's message.
  await Deno.writeTextFile(
    `${context.path}/Dockerfile`,
    `FROM ${testImage()}\nRUN --mount=type=secret,id=missing,required=true true\n`,
  );
  const missing = buildImage(docker.api, context.path, {
    ...BUILDKIT,
    labels: { ...TEST_LABELS },
    secrets: { token: value },
  });
  const error = await missing.then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof DockerStreamError, String(error));
  assert.match(error.message, /missing/);
  assert.ok(!error.message.includes(value));
});

Deno.test("aborting a BuildKit build stops its RUN step on the engine and cancels it by name", async () => {
  const calls: DockerCallEvent[] = [];
  using docker = client((event) => calls.push(event));
  const marker = crypto.randomUUID();
  // `""` keeps the command line from containing the output looked for.
  await using context = await contextDir({
    "Dockerfile":
      `FROM ${testImage()}\nRUN echo started""-${marker} && sleep 120 && echo ${marker}\n`,
  });
  const controller = new AbortController();
  const reason = new Error("stop the build");
  const decoder = new TextDecoder();
  const started = Promise.withResolvers<void>();
  const build = buildImage(docker.api, context.path, {
    ...BUILDKIT,
    noCache: true,
    labels: { ...TEST_LABELS },
    signal: controller.signal,
    onProgress: (event) => {
      for (const log of event.buildkit?.logs ?? []) {
        if (decoder.decode(log.data).includes(`started-${marker}`)) started.resolve();
      }
    },
  });
  const outcome = build.then(() => undefined, (error: unknown) => error);
  await Promise.race([started.promise, outcome]);

  // The engine is on this machine when it listens on a Unix socket: its
  // RUN process (whose command line holds the marker) can be watched.
  const local = testEnv().host.startsWith("unix://");
  const running = async () => {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const command = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
      if (command.includes(`${marker} && sleep 120`)) return true;
    }
    return false;
  };
  if (local) assert.ok(await running(), "the RUN step is not running before the abort");
  controller.abort(reason);
  assert.equal(await outcome, reason);
  // The build was named, and cancelled by that name.
  const named = calls.find((call) => /\/build\?/.test(call.path))?.path.match(/buildid=([^&]+)/)
    ?.[1];
  assert.ok(named, "the build carries a buildid");
  const cancelDeadline = Date.now() + 10_000;
  while (!calls.some((call) => call.path.endsWith(`/build/cancel?id=${named}`))) {
    assert.ok(Date.now() < cancelDeadline, "no POST /build/cancel after the abort");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const cancel = calls.find((call) => call.path.endsWith(`/build/cancel?id=${named}`))!;
  assert.equal(cancel.method, "POST");
  assert.equal(cancel.status, 200);
  if (!local) return;
  const deadline = Date.now() + 30_000;
  while (await running()) {
    assert.ok(Date.now() < deadline, "the RUN step still runs 30 s after the abort");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});
