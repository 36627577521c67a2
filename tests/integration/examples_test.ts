/**
 * Runs the scripts of `examples/` as a user would, each in its own `deno run`
 * against the test engine (`DOCKER_HOST` = the engine the test task provides),
 * and checks the exit code and what they are documented to print: exactly
 * where the output is deterministic, by shape where it holds ids and times.
 * `examples/berth.ts` is covered by `cli_test.ts`.
 *
 * `pull.ts`, `push_private.ts` and `copy_files.ts` run with the narrow
 * `--allow-*` flags their headers document (socket path and config directory
 * substituted), so that the documented flags are checked too; the others run
 * with `--allow-all`, as documented. Objects an example creates by itself carry its own label
 * (`berth.example=<name>`), not `berth.test=1`: the tests find those the
 * example should have removed and remove them.
 *
 * Run it alone with `deno task test tests/integration/examples_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Docker } from "../../mod.ts";
import { engineRequired, type TestRegistryEnv } from "./_env.ts";
import { TEST_LABELS, testDocker, testEnv, testImage, uniqueName } from "./_docker.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url);
/** Generous: two noisy cores, and each run starts a fresh Deno. */
const EXAMPLE_TIMEOUT_MS = 180_000;

interface ExampleResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface ExampleOptions {
  /** Permission flags for `deno run`. @default ["--allow-all"] */
  permissions?: string[];
  /** Text piped to the script's stdin, then closed. @default stdin is /dev/null */
  stdin?: string;
  /** Variables added to the environment (which already has `DOCKER_HOST`). */
  env?: Record<string, string>;
}

/** Runs `examples/<script>` as a subprocess against the test engine. */
async function runExample(
  script: string,
  args: string[],
  options: ExampleOptions = {},
): Promise<ExampleResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.permissions ?? ["--allow-all"]),
      new URL(script, EXAMPLES).pathname,
      ...args,
    ],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DOCKER_HOST: testEnv().host, ...options.env },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, EXAMPLE_TIMEOUT_MS);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    assert.ok(
      !timedOut,
      `examples/${script} ran past ${EXAMPLE_TIMEOUT_MS} ms; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** A failure message showing what the script printed. */
function printed(result: ExampleResult): string {
  return `exit code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** The path of the test engine's Unix socket, for the narrow permission flags. */
function socketPath(): string {
  const host = testEnv().host;
  if (!host.startsWith("unix://")) {
    throw new Error(
      `The documented --allow-* flags name a Unix socket, but the test engine is at ${host}`,
    );
  }
  return host.slice("unix://".length);
}

/** `pull.ts`'s documented flags for a public image, on the test engine's socket. */
function pullFlags(): string[] {
  const socket = socketPath();
  return [
    `--allow-read=${socket}`,
    `--allow-write=${socket}`,
    `--allow-net=unix:${socket}`,
    "--allow-env=DOCKER_HOST",
  ];
}

/**
 * The flags `pull.ts` (from a private registry) and `push_private.ts`
 * document with the Docker config, on the test engine's socket and `configDir`.
 */
function configFlags(configDir: string): string[] {
  const socket = socketPath();
  return [
    `--allow-read=${socket},${configDir}`,
    `--allow-write=${socket}`,
    `--allow-net=unix:${socket}`,
    "--allow-env=DOCKER_HOST,DOCKER_CONFIG,HOME",
  ];
}

/** Escapes `text` for use in a RegExp. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Ids of the containers carrying `berth.example=<example>`. */
async function exampleContainers(docker: Docker, example: string): Promise<Set<string>> {
  const list = await docker.containers.list({
    all: true,
    filters: { label: [`berth.example=${example}`] },
  });
  return new Set(list.flatMap((container) => container.Id ? [container.Id] : []));
}

/**
 * Removes the containers labelled `berth.example=<example>` that are not in
 * `before` (the example should have removed them) and returns their ids.
 */
async function removeLeftovers(
  docker: Docker,
  example: string,
  before: Set<string>,
): Promise<string[]> {
  const leftovers = [...await exampleContainers(docker, example)].filter((id) => !before.has(id));
  for (const id of leftovers) {
    await docker.containers.remove(id, { force: true, volumes: true }).catch(() => {});
  }
  return leftovers;
}

/**
 * Runs `fn` with a client, then checks that the example removed the
 * containers it created (labelled `berth.example=<example>`): any it left
 * are removed, and the test fails saying `what`.
 */
async function withoutLeftovers(
  example: string,
  what: string,
  fn: (docker: Docker) => Promise<void>,
): Promise<void> {
  await using docker = testDocker();
  const before = await exampleContainers(docker, example);
  let leftovers: string[] = [];
  try {
    await fn(docker);
  } finally {
    leftovers = await removeLeftovers(docker, example, before);
  }
  assert.deepEqual(leftovers, [], what);
}

/** Removes images by name or id; missing ones are fine. */
async function removeImages(docker: Docker, ...names: string[]): Promise<void> {
  for (const name of names) {
    await docker.images.remove(name, { force: true }).catch(() => {});
  }
}

/** Whether an image exists on the test engine. */
async function imageExists(docker: Docker, name: string): Promise<boolean> {
  return await docker.images.inspect(name).then(() => true, () => false);
}

/** Writes `files` (path → content) under a new temporary directory. */
async function tempTree(prefix: string, files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  for (const [path, content] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  return dir;
}

/** A Docker config directory whose `config.json` has `auths` for `registry`. */
function dockerConfig(registry: TestRegistryEnv): Promise<string> {
  const auth = btoa(`${registry.username}:${registry.password}`);
  return tempTree("berth-example-config-", {
    "config.json": JSON.stringify({ auths: { [registry.address]: { auth } } }),
  });
}

const ISO_TIME = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`;
const registry = testEnv().registry;
/** Without a registry these are skipped, except where one is required (task, CI). */
const noRegistry = registry === undefined && !engineRequired();

/** The registry, or a failure saying how to get one. */
function reg(): TestRegistryEnv {
  if (!registry) throw new Error("BERTH_TEST_REGISTRY is not set: run with `deno task test`");
  return registry;
}

// ---------------------------------------------------------------------------
// run_container.ts
// ---------------------------------------------------------------------------

Deno.test("examples/run_container.ts: runs a command and prints its exit code and output", async () => {
  await withoutLeftovers(
    "run_container",
    "the container is removed, like docker run --rm",
    async () => {
      // The default command: `echo hello from $(hostname); echo oops >&2; exit 3`.
      const result = await runExample("run_container.ts", [testImage()]);
      assert.equal(result.code, 0, printed(result));
      const id = /^container ([0-9a-f]{12}) /.exec(result.stdout)?.[1];
      assert.ok(id, printed(result));
      assert.equal(
        result.stdout,
        `container ${id} exited with 3\nstdout: "hello from ${id}\\n"\nstderr: "oops\\n"\n`,
      );
      assert.equal(result.stderr, "");
    },
  );
});

Deno.test("examples/run_container.ts: runs the command given after the image", async () => {
  await withoutLeftovers(
    "run_container",
    "the container is removed, like docker run --rm",
    async () => {
      const result = await runExample("run_container.ts", [
        testImage(),
        "sh",
        "-c",
        "printf 'a\\tb'; printf 'c\\n' >&2",
      ]);
      assert.equal(result.code, 0, printed(result));
      assert.match(
        result.stdout,
        /^container [0-9a-f]{12} exited with 0\nstdout: "a\\tb"\nstderr: "c\\n"\n$/,
      );
    },
  );
});

// ---------------------------------------------------------------------------
// copy_files.ts
// ---------------------------------------------------------------------------

Deno.test("examples/copy_files.ts: copies a tree into a container and extracts it back", async () => {
  await withoutLeftovers("copy_files", "the container is removed", async () => {
    // The narrow flags its header documents.
    const socket = socketPath();
    const result = await runExample("copy_files.ts", [testImage()], {
      permissions: [
        "--allow-read",
        "--allow-write",
        `--allow-net=unix:${socket}`,
        "--allow-env=DOCKER_HOST",
      ],
    });
    assert.equal(result.code, 0, printed(result));
    assert.equal(result.stderr, "");
    const lines = result.stdout.split("\n");
    assert.equal(lines.length, 7, printed(result));
    assert.match(
      lines[0]!,
      new RegExp(`^in the container: index\\.html, 15 bytes, modified ${ISO_TIME}$`),
    );
    // Directory order is the file system's.
    assert.deepEqual(lines.slice(1, 4).sort(), [
      "extracted: site/home.html -> index.html",
      "extracted: site/index.html ",
      "extracted: site/notes.txt ",
    ]);
    // index.html's content, then console.log's newline.
    assert.deepEqual(lines.slice(4), ["<h1>hello</h1>", "", ""]);
  });
});

Deno.test("examples/copy_files.ts: failing for want of a permission leaves no container", async () => {
  await withoutLeftovers("copy_files", "nothing is left behind", async () => {
    // The socket alone: the temporary directory may not be made.
    const socket = socketPath();
    const result = await runExample("copy_files.ts", [testImage()], {
      permissions: [
        `--allow-read=${socket}`,
        `--allow-write=${socket}`,
        `--allow-net=unix:${socket}`,
        "--allow-env=DOCKER_HOST",
      ],
    });
    assert.notEqual(result.code, 0, printed(result));
    assert.match(result.stderr, /NotCapable|Requires write access/, printed(result));
  });
});

// ---------------------------------------------------------------------------
// logs_follow.ts
// ---------------------------------------------------------------------------

Deno.test("examples/logs_follow.ts: follows stdout and stderr until the container exits", async () => {
  await withoutLeftovers("logs_follow", "the container is removed", async () => {
    const result = await runExample("logs_follow.ts", [testImage()]);
    assert.equal(result.code, 0, printed(result));
    const numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const stdout = result.stdout.split("\n");
    assert.equal(stdout.length, 12, printed(result));
    numbers.forEach((i, index) =>
      assert.match(stdout[index]!, new RegExp(`^\\[stdout\\] ${ISO_TIME} tick ${i}$`))
    );
    assert.deepEqual(stdout.slice(10), ["exited with 0", ""]);
    const stderr = result.stderr.split("\n");
    assert.equal(stderr.length, 11, printed(result));
    numbers.forEach((i, index) =>
      assert.match(stderr[index]!, new RegExp(`^\\[stderr\\] ${ISO_TIME} tock ${i}$`))
    );
    assert.equal(stderr[10], "");
  });
});

// ---------------------------------------------------------------------------
// events.ts
// ---------------------------------------------------------------------------

Deno.test("examples/events.ts: shows the live events it causes, then replays them in a bounded window", async () => {
  await using docker = testDocker();
  const labels = { label: ["berth.example=events"] };
  const volumeNames = async () =>
    new Set(((await docker.volumes.list({ filters: labels })).Volumes ?? []).map((v) => v.Name));
  const networkIds = async () =>
    new Set((await docker.networks.list({ filters: labels })).flatMap((n) => n.Id ? [n.Id] : []));
  const [volumesBefore, networksBefore] = [await volumeNames(), await networkIds()];
  const leftovers: string[] = [];
  try {
    // 4 s live: room for the volume and network calls (~0.1 s) on a slow machine.
    const result = await runExample("events.ts", ["4", "volume", "network"]);
    assert.equal(result.code, 0, printed(result));
    assert.equal(result.stderr, "");
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "-- events of the last minute, then live for 4 s (Ctrl-C stops)");
    const stopped = lines.indexOf("-- stopped: The operation was aborted due to timeout");
    assert.ok(stopped > 0, printed(result));
    const name = /^-- events of (berth-example-events-[0-9a-f]{8}) since this script started$/
      .exec(lines[stopped + 1] ?? "")?.[1];
    assert.ok(name, printed(result));
    const expected = [
      `volume create ${name}`,
      `volume destroy ${name}`,
      `network create ${name}`,
      `network destroy ${name}`,
    ];
    const event = new RegExp(`^${ISO_TIME} (\\S+ \\S+ .*)$`);
    const parse = (line: string) => event.exec(line)?.[1] ?? `not an event: ${line}`;
    // The replayed minute and the live events: only the types asked for, the
    // script's own among them, in order.
    const live = lines.slice(1, stopped).map(parse);
    for (const line of live) assert.match(line, /^(volume|network) /);
    assert.deepEqual(live.filter((line) => line.endsWith(` ${name}`)), expected);
    // The bounded window: exactly the script's events, then the end of the output.
    const bounded = lines.slice(stopped + 2);
    assert.equal(bounded.pop(), "");
    assert.deepEqual(bounded.map(parse), expected);
  } finally {
    for (const volume of await volumeNames()) {
      if (volumesBefore.has(volume)) continue;
      leftovers.push(`volume ${volume}`);
      await docker.volumes.remove(volume, { force: true }).catch(() => {});
    }
    for (const network of await networkIds()) {
      if (networksBefore.has(network)) continue;
      leftovers.push(`network ${network}`);
      await docker.networks.remove(network).catch(() => {});
    }
  }
  assert.deepEqual(leftovers, [], "the volume and the network are removed");
});

// ---------------------------------------------------------------------------
// exec_interactive.ts
// ---------------------------------------------------------------------------

Deno.test("examples/exec_interactive.ts: runs piped commands in a throwaway container's shell", async () => {
  await withoutLeftovers("exec_interactive", "the throwaway container is removed", async () => {
    // As its header documents: `echo 'uname -a; exit' | … exec_interactive.ts`.
    const result = await runExample("exec_interactive.ts", [], {
      stdin: "uname -a; echo to-stderr >&2; exit\n",
      env: { BERTH_EXAMPLE_IMAGE: testImage() },
    });
    assert.equal(result.code, 0, printed(result));
    // busybox's uname: the host name is the container's short id.
    assert.match(result.stdout, /^Linux [0-9a-f]{12} \S.*\n$/);
    assert.equal(result.stderr, "to-stderr\n");
  });
});

Deno.test("examples/exec_interactive.ts: runs a command in a named container and exits with its code", async () => {
  await using docker = testDocker();
  const name = uniqueName("example-exec");
  const { Id } = await docker.containers.create(
    { Image: testImage(), Cmd: ["sleep", "600"], Labels: { ...TEST_LABELS } },
    { name },
  );
  try {
    await docker.containers.start(Id);
    const result = await runExample("exec_interactive.ts", [name, "sh", "-c", "cat; exit 7"], {
      stdin: "through the pipe\n",
      env: { BERTH_EXAMPLE_IMAGE: testImage() },
    });
    assert.equal(result.code, 7, printed(result));
    assert.equal(result.stdout, "through the pipe\n");
    assert.equal(result.stderr, "");
    // A container it did not start is left running.
    assert.equal((await docker.containers.inspect(Id)).State?.Running, true);
  } finally {
    await docker.containers.remove(Id, { force: true }).catch(() => {});
  }
});

// ---------------------------------------------------------------------------
// build.ts
// ---------------------------------------------------------------------------

/** A build context from the test image (whose `berth.test=1` label the image inherits). */
function buildContext(): Promise<string> {
  return tempTree("berth-example-build-", {
    // The marker keeps the RUN step out of the build cache.
    "Dockerfile": `FROM ${testImage()}\nCOPY . /app\n` +
      `RUN echo one && ls /app # ${crypto.randomUUID()}\n`,
    ".dockerignore": "*.secret\n",
    "notes.txt": "sent\n",
    "token.secret": "never sent\n",
  });
}

Deno.test("examples/build.ts: builds a directory with a tag and prints the image id", async () => {
  await using docker = testDocker();
  const dir = await buildContext();
  const tag = `${uniqueName("example-build")}:1`;
  try {
    const result = await runExample("build.ts", [dir, tag]);
    assert.equal(result.code, 0, printed(result));
    assert.match(result.stdout, /^Step 1\/4 : FROM /);
    assert.match(result.stdout, /\nStep 3\/4 : RUN echo one && ls \/app /);
    // The RUN step's output: the context without what .dockerignore excludes.
    assert.match(result.stdout, /\none\nDockerfile\nnotes\.txt\n/);
    assert.ok(!result.stdout.includes("token.secret"), printed(result));
    assert.ok(result.stdout.includes(`\nSuccessfully tagged ${tag}\n`), printed(result));
    const id = new RegExp(`\\nbuilt (sha256:[0-9a-f]{64}) as ${escapeRegExp(tag)}\\n$`)
      .exec(result.stdout)?.[1];
    assert.ok(id, printed(result));
    const image = await docker.images.inspect(tag);
    assert.equal(image.Id, id);
    assert.equal(image.Config?.Labels?.["berth.example"], "build");
    assert.equal(image.Config?.Labels?.["berth.test"], "1");
  } finally {
    await removeImages(docker, tag);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/build.ts: --buildkit prints the steps like --progress=plain", async () => {
  await using docker = testDocker();
  const dir = await buildContext();
  const tag = `${uniqueName("example-buildkit")}:1`;
  try {
    const result = await runExample("build.ts", ["--buildkit", dir, tag]);
    assert.equal(result.code, 0, printed(result));
    const lines = result.stdout.split("\n");
    const run = lines.find((line) => /^#\d+ \[3\/3\] RUN echo one && ls \/app /.test(line));
    assert.ok(run, printed(result));
    const step = run.split(" ")[0]!;
    const output = lines.filter((line) => line.startsWith(`${step} `)).map((line) =>
      line.slice(step.length + 1).replace(/^\d+\.\d{3} /, "")
    );
    assert.deepEqual(output.slice(1, 4), ["one", "Dockerfile", "notes.txt"]);
    assert.match(output.at(-1)!, /^DONE \d+\.\ds$/);
    assert.ok(!result.stdout.includes("token.secret"), printed(result));
    const id = new RegExp(`\\nbuilt (sha256:[0-9a-f]{64}) as ${escapeRegExp(tag)}\\n$`)
      .exec(result.stdout)?.[1];
    assert.ok(id, printed(result));
    assert.equal((await docker.images.inspect(tag)).Id, id);
  } finally {
    await removeImages(docker, tag);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/build.ts: without a directory, builds the demo context and removes the image", async () => {
  await using docker = testDocker();
  // No Docker Hub here: the demo's base is the test image (busybox).
  let id: string | undefined;
  try {
    const result = await runExample("build.ts", [], { env: { BERTH_EXAMPLE_IMAGE: testImage() } });
    assert.equal(result.code, 0, printed(result));
    assert.ok(result.stdout.startsWith(`Step 1/6 : FROM ${testImage()}\n`), printed(result));
    // `ls -la /app` in the RUN step: .dockerignore kept token.secret out.
    assert.match(result.stdout, / notes\.txt\n/);
    assert.match(result.stdout, / greeting\n/);
    assert.ok(!result.stdout.includes("token.secret"), printed(result));
    id = /\nbuilt (sha256:[0-9a-f]{64})\n$/.exec(result.stdout)?.[1];
    assert.ok(id, printed(result));
    assert.equal(await imageExists(docker, id), false, "the demo image is removed");
  } finally {
    if (id) await removeImages(docker, id);
  }
});

// ---------------------------------------------------------------------------
// push_private.ts and pull.ts, on the test registry
// ---------------------------------------------------------------------------

Deno.test({
  name: "examples/push_private.ts: tags and pushes with the Docker config's credentials",
  ignore: noRegistry,
  async fn() {
    await using docker = testDocker();
    const { address, password } = reg();
    const configDir = await dockerConfig(reg());
    const repository = `${address}/berth-test/${uniqueName("example-push")}`;
    const target = `${repository}:1`;
    try {
      const result = await runExample("push_private.ts", [testImage(), target], {
        permissions: configFlags(configDir),
        env: { DOCKER_CONFIG: configDir },
      });
      assert.equal(result.code, 0, printed(result));
      assert.match(
        result.stdout,
        new RegExp(`\\n${escapeRegExp(target)}: digest: sha256:[0-9a-f]{64} size: \\d+\\n$`),
      );
      const output = `${result.stdout}${result.stderr}`;
      assert.ok(!output.includes(password), "no password printed");
      assert.ok(!output.includes(btoa(`${reg().username}:${password}`)), "no auth printed");
      // The tag it made stays, like `docker tag`.
      const [tagged, source] = await Promise.all([
        docker.images.inspect(target),
        docker.images.inspect(testImage()),
      ]);
      assert.equal(tagged.Id, source.Id);
    } finally {
      await removeImages(docker, target);
      await Deno.remove(configDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "examples/push_private.ts: without credentials, says the registry refused and to log in",
  ignore: noRegistry,
  async fn() {
    await using docker = testDocker();
    const { address } = reg();
    // No config.json: no credentials.
    const configDir = await Deno.makeTempDir({ prefix: "berth-example-config-" });
    const target = `${address}/berth-test/${uniqueName("example-push")}:1`;
    try {
      const result = await runExample("push_private.ts", [testImage(), target], {
        permissions: configFlags(configDir),
        env: { DOCKER_CONFIG: configDir },
      });
      assert.equal(result.code, 1, printed(result));
      assert.match(
        result.stderr,
        new RegExp(
          `^The registry refused the push: .*(unauthorized|no basic auth).*\\n` +
            `Log in first: docker login ${escapeRegExp(address)}\\n$`,
        ),
      );
    } finally {
      await removeImages(docker, target);
      await Deno.remove(configDir, { recursive: true });
    }
  },
});

/**
 * Pushes the test image to the test registry as `target` with
 * push_private.ts, then untags it, so that a pull has to bring it back.
 *
 * @returns The digest the push printed.
 */
async function pushThenUntag(docker: Docker, target: string, configDir: string): Promise<string> {
  const pushed = await runExample("push_private.ts", [testImage(), target], {
    permissions: configFlags(configDir),
    env: { DOCKER_CONFIG: configDir },
  });
  assert.equal(pushed.code, 0, printed(pushed));
  const digest = /: digest: (sha256:[0-9a-f]{64}) /.exec(pushed.stdout)?.[1];
  assert.ok(digest, printed(pushed));
  await docker.images.remove(target);
  return digest;
}

Deno.test({
  name:
    "examples/pull.ts: with the public-image flags it pulls anonymously; the registry's refusal is one line",
  ignore: noRegistry,
  async fn() {
    await using docker = testDocker();
    const configDir = await dockerConfig(reg());
    const target = `${reg().address}/berth-test/${uniqueName("example-pull")}:1`;
    try {
      await pushThenUntag(docker, target, configDir);
      // No env permission: the script cannot read the Docker config, so it
      // pulls anonymously, and the htpasswd registry refuses.
      const result = await runExample("pull.ts", [target], {
        permissions: pullFlags(),
        env: { DOCKER_CONFIG: configDir },
      });
      assert.equal(result.code, 1, printed(result));
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        new RegExp(
          `^pull failed: Cannot pull image "${
            escapeRegExp(target)
          }": engine answered 500 Internal Server Error: .*no basic auth credentials\\n$`,
        ),
      );
      assert.equal(await imageExists(docker, target), false);
    } finally {
      await removeImages(docker, target);
      await Deno.remove(configDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "examples/pull.ts: with the Docker config allowed, pulls from the authenticated registry and prints id and size",
  ignore: noRegistry,
  async fn() {
    await using docker = testDocker();
    const configDir = await dockerConfig(reg());
    const repository = `${reg().address}/berth-test/${uniqueName("example-pull")}`;
    const target = `${repository}:1`;
    let digest: string | undefined;
    try {
      digest = await pushThenUntag(docker, target, configDir);
      const result = await runExample("pull.ts", [target], {
        permissions: configFlags(configDir),
        env: { DOCKER_CONFIG: configDir },
      });
      assert.equal(result.code, 0, printed(result));
      assert.equal(result.stderr, "");
      const { Id, Size } = await docker.images.inspect(testImage());
      // The engine's lines, as `docker pull` prints them (the layers are
      // already here: the engine lists none), then the image's id and size.
      assert.deepEqual(result.stdout.split("\n"), [
        `1: Pulling from ${repository.slice(reg().address.length + 1)}`,
        `Digest: ${digest}`,
        `Status: Downloaded newer image for ${target}`,
        `${Id} (${((Size ?? 0) / 1e6).toFixed(1)} MB)`,
        "",
      ], printed(result));
      assert.equal((await docker.images.inspect(target)).Id, Id);
    } finally {
      await removeImages(docker, target, ...(digest ? [`${repository}@${digest}`] : []));
      await Deno.remove(configDir, { recursive: true });
    }
  },
});
