/**
 * Image builds (`POST /build`) and build cache pruning against the real
 * test engine. The calls go through `buildImage`/`pruneBuildCache` on an
 * API client of their own (what `docker.images.build` and
 * `docker.images.pruneBuildCache` delegate to); images are inspected,
 * run and removed with `Images` and `Containers`.
 */

import assert from "node:assert/strict";
import { buildImage, type ImageBuildEvent, pruneBuildCache } from "../../src/api/_build.ts";
import { CredentialStore } from "../../src/auth.ts";
import { DockerApiError, DockerStreamError } from "../../src/errors.ts";
import type { DockerCallEvent } from "../../src/observer.ts";
import { tarStream } from "../../src/stream/tar.ts";
import { engineRequired, testEnv } from "./_env.ts";
import { TEST_LABELS, testImage, uniqueName } from "./_docker.ts";
import { client, contextDir, runIn } from "./_build.ts";
import { canMknod, command } from "../build/_special_files.ts";

Deno.test("buildImage builds a directory with .dockerignore, build args, target and tags", async () => {
  using docker = client();
  const name = uniqueName("build");
  const marker = crypto.randomUUID();
  await using context = await contextDir({
    "Dockerfile": [
      `FROM ${testImage()} AS base`,
      "ARG GREETING=unset",
      "COPY . /ctx",
      'RUN echo "$GREETING" > /greeting && ls -a /ctx > /listing',
      "LABEL berth.test=1",
      "FROM base AS never",
      "RUN exit 7",
      "",
    ].join("\n"),
    ".dockerignore": "# test\nsecret.txt\nlogs\n.dockerignore\n",
    "kept.txt": marker,
    "secret.txt": "do not send\n",
    "logs/today.log": "log\n",
  });
  const events: ImageBuildEvent[] = [];
  let imageId: string | undefined;
  try {
    const build = buildImage(docker.api, context.path, {
      tags: [`${name}:1`, `${name}:2`],
      buildArgs: { GREETING: `hello-${marker}` },
      target: "base",
      labels: { ...TEST_LABELS, "berth.build": marker },
      onProgress: (event) => events.push(event),
    });
    const steps: string[] = [];
    for await (const event of build) {
      const step = /^Step (\d+)\/(\d+) : (.*)$/.exec(event.stream?.trim() ?? "");
      if (step) steps.push(`${step[1]}/${step[2]} ${step[3]}`);
    }
    const result = await build;
    imageId = result.imageId;

    // The steps of the target stage, in order, then one LABEL step per
    // `labels` entry; the stage after the target never ran.
    assert.deepEqual(steps.slice(0, 5), [
      `1/7 FROM ${testImage()} AS base`,
      "2/7 ARG GREETING=unset",
      "3/7 COPY . /ctx",
      '4/7 RUN echo "$GREETING" > /greeting && ls -a /ctx > /listing',
      "5/7 LABEL berth.test=1",
    ]);
    assert.equal(steps.length, 7);
    assert.ok(steps.slice(5).every((step) => / LABEL berth\./.test(step)), steps.join("\n"));
    assert.ok(!steps.some((step) => step.includes("exit 7")));
    assert.ok(
      events.some((event) => typeof event.aux === "object" && event.aux.ID === result.imageId),
    );

    const inspected = await docker.images.inspect(`${name}:1`);
    assert.equal(result.imageId, inspected.Id);
    assert.deepEqual(result.tags, [`${name}:1`, `${name}:2`]);
    assert.deepEqual([...(inspected.RepoTags ?? [])].sort(), [`${name}:1`, `${name}:2`]);
    assert.equal(inspected.Config?.Labels?.["berth.test"], "1");
    assert.equal(inspected.Config?.Labels?.["berth.build"], marker);

    const output = await runIn(docker.containers, result.imageId, "cat /greeting /listing");
    const [greeting, ...listing] = output.trim().split("\n");
    assert.equal(greeting, `hello-${marker}`);
    assert.ok(listing.includes("kept.txt"), output);
    assert.ok(listing.includes("Dockerfile"), output);
    assert.ok(!listing.includes("secret.txt"), output);
    assert.ok(!listing.includes("logs"), output);
    assert.ok(!listing.includes(".dockerignore"), output);
    const kept = await runIn(docker.containers, result.imageId, "cat /ctx/kept.txt");
    assert.equal(kept, marker);
  } finally {
    if (imageId) await docker.images.remove(imageId, { force: true }).catch(() => {});
  }
});

Deno.test("buildImage rejects a failing RUN with DockerStreamError carrying the engine's message", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nRUN echo ${crypto.randomUUID()} && exit 3\n`,
  });
  const build = buildImage(docker.api, context.path, { forceRm: true, labels: { ...TEST_LABELS } });
  const error = await build.then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof DockerStreamError, String(error));
  assert.match(error.message, /returned a non-zero code: 3/);
  assert.equal(error.detail?.code, 3);
});

Deno.test("buildImage builds from a tar stream and from tar bytes", async () => {
  using docker = client();
  const marker = crypto.randomUUID();
  const entries = () => [
    {
      name: "Dockerfile",
      body: `FROM ${testImage()}\nCOPY hello.txt /hello.txt\nLABEL berth.test=1\n`,
      mtime: 1_700_000_000,
    },
    { name: "hello.txt", body: marker, mode: 0o600, mtime: 1_700_000_000 },
  ];
  const ids: string[] = [];
  try {
    const fromStream = await buildImage(docker.api, tarStream(entries()));
    ids.push(fromStream.imageId);
    assert.match(fromStream.imageId, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(fromStream.tags, []);
    assert.equal(
      await runIn(docker.containers, fromStream.imageId, "cat /hello.txt; stat -c %a /hello.txt"),
      `${marker}600\n`,
    );

    const bytes = new Uint8Array(await new Response(tarStream(entries())).arrayBuffer());
    const name = uniqueName("build-bytes");
    // Quiet: the engine sends only the id; the same content hits the cache.
    const fromBytes = await buildImage(docker.api, bytes, { quiet: true, tags: [name] });
    ids.push(fromBytes.imageId);
    assert.equal(fromBytes.imageId, fromStream.imageId);
    assert.deepEqual(fromBytes.tags, [name]);
    assert.equal((await docker.images.inspect(name)).Id, fromBytes.imageId);
  } finally {
    for (const id of ids) await docker.images.remove(id, { force: true }).catch(() => {});
  }
});

Deno.test("buildImage builds a remote context the engine fetches", async () => {
  using docker = client();
  const marker = crypto.randomUUID();
  const dockerfile = `FROM ${testImage()}\nLABEL berth.test=1 berth.remote=${marker}\n`;
  // The engine fetches the URL itself; a plain-text answer is taken as a Dockerfile.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(dockerfile, { headers: { "Content-Type": "text/plain" } }),
  );
  let imageId: string | undefined;
  try {
    const result = await buildImage(docker.api, {
      remote: `http://127.0.0.1:${server.addr.port}/Dockerfile`,
    });
    imageId = result.imageId;
    const inspected = await docker.images.inspect(result.imageId);
    assert.equal(inspected.Config?.Labels?.["berth.remote"], marker);
  } finally {
    if (imageId) await docker.images.remove(imageId, { force: true }).catch(() => {});
  }
});

Deno.test("buildImage: a null build arg keeps the ARG's default; squash needs an experimental engine", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nARG GREETING=default-value\nRUN echo "$GREETING" > /g\n`,
  });
  let imageId: string | undefined;
  try {
    let output = "";
    const result = await buildImage(docker.api, context.path, {
      buildArgs: { GREETING: null, UNUSED: null },
      labels: { ...TEST_LABELS },
      onProgress: (event) => output += event.stream ?? "",
    });
    imageId = result.imageId;
    assert.equal(await runIn(docker.containers, imageId, "cat /g"), "default-value\n");
    // The engine got both names: it warns about the one no ARG takes.
    assert.match(output, /build-args \[UNUSED\] were not consumed/);
  } finally {
    if (imageId) await docker.images.remove(imageId, { force: true }).catch(() => {});
  }

  const info = await docker.api.json<{ ExperimentalBuild?: boolean }>({
    method: "GET",
    path: "/info",
    action: "read engine info",
  });
  const squashed = buildImage(docker.api, context.path, {
    squash: true,
    labels: { ...TEST_LABELS },
  });
  if (info.ExperimentalBuild) {
    await docker.images.remove((await squashed).imageId, { force: true });
  } else {
    const error = await squashed.then(() => undefined, (error: unknown) => error);
    assert.ok(error instanceof DockerApiError, String(error));
    assert.equal(error.status, 400);
    assert.match(error.message, /squash is only supported with experimental mode/);
  }
  assert.throws(
    () => buildImage(docker.api, ".", { buildArgs: { A: 1 as unknown as string } }),
    /buildArgs must be an object of strings \(or null\)/,
  );
});

Deno.test("buildImage with a missing Dockerfile: a TypeError before anything is sent, for either builder", async () => {
  const events: DockerCallEvent[] = [];
  using docker = client((event) => events.push(event));
  await using context = await contextDir({ "Dockerfile": `FROM ${testImage()}\n`, "dir/a": "a" });
  for (const version of ["1", "2"] as const) {
    for (const dockerfile of ["Missing.dockerfile", "nope/Dockerfile", "dir"]) {
      const error = await buildImage(docker.api, context.path, { version, dockerfile }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof TypeError, `${version} ${dockerfile}: ${error}`);
      assert.match(error.message, new RegExp(`Dockerfile "${dockerfile}" (in|is)`));
    }
  }
  assert.deepEqual(events.map((event) => event.path), [], "nothing was sent");
  // A tar context without it is the engine's to refuse.
  const tar = tarStream([{ name: "Dockerfile", body: `FROM ${testImage()}\n` }]);
  await assert.rejects(
    async () => await buildImage(docker.api, tar, { dockerfile: "Missing.dockerfile" }),
    (error: unknown) => {
      assert.ok(error instanceof DockerApiError, String(error));
      assert.match(error.message, /Cannot build an image: .*Cannot locate specified Dockerfile/);
      return true;
    },
  );
});

Deno.test("buildImage rejects bad contexts and options before any I/O", async () => {
  using docker = client();
  assert.throws(() => buildImage(docker.api, ""), TypeError);
  assert.throws(() => buildImage(docker.api, new URL("https://example.com/app.git")), TypeError);
  assert.throws(() => buildImage(docker.api, { remote: " " }), TypeError);
  assert.throws(() => buildImage(docker.api, 42 as unknown as string), TypeError);
  assert.throws(() => buildImage(docker.api, ".", { tags: [""] }), TypeError);
  assert.throws(() => buildImage(docker.api, ".", { version: "3" as "1" }), /builder version/);
  assert.throws(() => buildImage(docker.api, ".", { secrets: { a: "b" } }), /need BuildKit/);
  assert.throws(
    () => buildImage(docker.api, ".", { version: "2", secrets: { a: 1 as unknown as string } }),
    TypeError,
  );
  assert.throws(() => buildImage(docker.api, ".", { memory: -5 }), RangeError);
  assert.throws(() => buildImage(docker.api, new Uint8Array(0), { excludes: ["x"] }), TypeError);
  await using context = await contextDir({ "file.txt": "not a directory\n" });
  await assert.rejects(async () => {
    await buildImage(docker.api, `${context.path}/file.txt`);
  }, TypeError);
});

Deno.test("buildImage stops the build when its signal aborts", async () => {
  using docker = client();
  const marker = crypto.randomUUID();
  // `""` keeps the step line itself from containing the output looked for.
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nRUN echo started""-${marker} && sleep 60\n`,
  });
  const controller = new AbortController();
  const reason = new Error("stop the build");
  let container: string | undefined;
  const build = buildImage(docker.api, context.path, {
    signal: controller.signal,
    onProgress: (event) => {
      const running = /^---> Running in ([0-9a-f]+)$/.exec(event.stream?.trim() ?? "");
      if (running) container = running[1];
      if (event.stream === `started-${marker}\n`) controller.abort(reason);
    },
  });
  await assert.rejects(async () => await build, (error: unknown) => error === reason);
  assert.ok(container, "the RUN step never started");
  // The classic builder notices the closed connection, kills and removes the RUN container.
  const deadline = Date.now() + 30_000;
  while (true) {
    const left = await docker.containers.list({ all: true, filters: { id: [container] } });
    if (left.length === 0) break;
    assert.ok(Date.now() < deadline, `container ${container} is still there`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});

Deno.test("pruneBuildCache answers with the removed ids and the bytes reclaimed", async () => {
  using docker = client();
  // On a shared engine only cache older than ten years goes (none); a private one is emptied.
  const result = await pruneBuildCache(
    docker.api,
    testEnv().privateEngine ? { all: true } : { filters: { until: ["87600h"] } },
  );
  assert.ok(Array.isArray(result.CachesDeleted));
  assert.equal(typeof result.SpaceReclaimed, "number");
  await assert.rejects(() => pruneBuildCache(docker.api, { keepStorage: -1 }), RangeError);
  await assert.rejects(
    () => pruneBuildCache(docker.api, { filters: { "no-such-filter": ["x"] } }),
    DockerApiError,
  );
});

const registry = testEnv().registry;

Deno.test({
  name: "buildImage gives registry credentials for FROM: X-Registry-Config, or BuildKit's session",
  ignore: registry === undefined && !engineRequired(),
  async fn() {
    if (!registry) throw new Error("BERTH_TEST_REGISTRY is not set: run with `deno task test`");
    const events: DockerCallEvent[] = [];
    using docker = client((event) => events.push(event));
    const auth = { username: registry.username, password: registry.password };
    const base = `${registry.address}/${uniqueName("build-base")}:1`;
    await using context = await contextDir({
      "Dockerfile": `FROM ${base}\nLABEL berth.test=1 berth.marker=${crypto.randomUUID()}\n`,
    });
    let imageId: string | undefined;
    try {
      await docker.images.tag(testImage(), base);
      await docker.images.push(base, { auth: { ...auth, serveraddress: registry.address } });
      await docker.images.remove(base);

      // Without credentials the registry refuses the pull of the base image.
      await assert.rejects(
        async () => await buildImage(docker.api, context.path, { auth: false }),
        (error: unknown) => {
          assert.ok(error instanceof DockerStreamError, String(error));
          assert.ok(!error.message.includes(registry.password));
          return true;
        },
      );

      const store = CredentialStore.from({ [registry.address]: auth });
      const result = await buildImage(docker.api, context.path, {}, store);
      imageId = result.imageId;
      assert.equal((await docker.images.inspect(result.imageId)).Id, result.imageId);

      // The header was sent, and redacted in what the observer saw.
      const builds = events.filter((event) => event.path.includes("/build"));
      assert.ok(builds.some((event) => event.requestHeaders["X-Registry-Config"] === "<redacted>"));
      assert.ok(!JSON.stringify(events).includes(registry.password));

      // BuildKit asks for the credentials through berth's session instead.
      await docker.images.remove(base, { force: true }).catch(() => {});
      const buildkit = { version: "2", networkMode: "none", noCache: true } as const;
      await assert.rejects(
        async () => await buildImage(docker.api, context.path, { ...buildkit, auth: false }),
        (error: unknown) => {
          assert.ok(error instanceof DockerStreamError, String(error));
          assert.match(error.message, /401 Unauthorized/);
          return true;
        },
      );
      const viaSession = await buildImage(docker.api, context.path, buildkit, store);
      assert.equal(viaSession.imageId, (await docker.images.inspect(viaSession.imageId)).Id);
      await docker.images.remove(viaSession.imageId, { force: true }).catch(() => {});
      assert.ok(!JSON.stringify(events).includes(registry.password));
    } finally {
      if (imageId) await docker.images.remove(imageId, { force: true }).catch(() => {});
      await docker.images.remove(base, { force: true }).catch(() => {});
    }
  },
});

Deno.test("buildImage sends a context's FIFO and device to the classic builder and to BuildKit, not its socket", async (t) => {
  using docker = client();
  // What the engine received, written to /special: the FIFO, its second
  // name, a character device when this process may make one, no socket.
  const check = (dir: string) =>
    `cd ${dir} && test -p pipe && test -p run/pipe2 && test ! -e agent.sock && ` +
    `stat -c '%n %a' pipe > /special && if test -e null; then test -c null && ` +
    `stat -c '%n %t,%T' null >> /special; fi`;
  await using context = await contextDir({
    // The classic builder: COPY keeps FIFOs and devices.
    "Dockerfile": [
      `FROM ${testImage()}`,
      "COPY . /ctx",
      `RUN ${check("/ctx")}`,
      "LABEL berth.test=1",
      "",
    ].join("\n"),
    // BuildKit: its context as received, through a bind mount (the COPY of
    // the BuildKit in Docker 20.10 drops FIFOs and empties devices).
    "Dockerfile.buildkit": [
      `FROM ${testImage()}`,
      `RUN --mount=type=bind,target=/src ${check("/src")}`,
      "LABEL berth.test=1",
      "",
    ].join("\n"),
    "run/keep.txt": "keep\n",
  });
  await command("mkfifo", `${context.path}/pipe`);
  await Deno.chmod(`${context.path}/pipe`, 0o640);
  await Deno.link(`${context.path}/pipe`, `${context.path}/run/pipe2`);
  // Not root (or no CAP_MKNOD): the FIFO alone is checked.
  const device = canMknod;
  if (device) await command("mknod", `${context.path}/null`, "c", "1", "3");
  // Open for the whole test: Deno removes the socket's file when the listener closes.
  using _socket = Deno.listen({ transport: "unix", path: `${context.path}/agent.sock` });
  const expected = `pipe 640\n${device ? "null 1,3\n" : ""}`;
  const images: string[] = [];
  try {
    for (
      const [name, options] of [
        ["the classic builder (tar context)", {}],
        [
          "BuildKit (filesync session)",
          { version: "2", networkMode: "none", dockerfile: "Dockerfile.buildkit" },
        ],
      ] as const
    ) {
      await t.step(name, async () => {
        const { imageId } = await buildImage(docker.api, context.path, {
          ...options,
          noCache: true,
          labels: { ...TEST_LABELS },
        });
        images.push(imageId);
        assert.equal(await runIn(docker.containers, imageId, "cat /special"), expected);
      });
    }
  } finally {
    for (const id of images) await docker.images.remove(id, { force: true }).catch(() => {});
  }
});
