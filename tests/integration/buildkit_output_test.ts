/**
 * BuildKit builds that forward SSH agents (`ssh`) and export their result
 * (`output`) against the real test engine, and the classic builder's
 * `ulimits` and `cacheFrom` (sent as JSON). `networkMode: "none"` keeps the
 * builds off the bridge network (the private test engine runs without one).
 *
 * The test image is busybox only: the SSH tests copy the host's `ssh-add`
 * and `ssh-keygen`, with their shared libraries and loader, into the build
 * context and run them through the loader.
 */

import assert from "node:assert/strict";
import { buildImage, type ImageBuildEvent, type ImageBuildOptions } from "../../src/api/_build.ts";
import { DockerStreamError } from "../../src/errors.ts";
import { readTar } from "../../src/stream/tar.ts";
import { TEST_LABELS, testImage, uniqueName } from "./_docker.ts";
import { client, contextDir } from "./_build.ts";

const BUILDKIT = { version: "2", networkMode: "none" } as const;
const LOADER = "/lib64/ld-linux-x86-64.so.2";
/** How a RUN step starts a host binary copied into `/x`. */
const X = "/x/ld-linux-x86-64.so.2 --library-path /x";
const decoder = new TextDecoder();

/** Runs a host command; returns its exit code and output. */
async function command(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(program, {
    args,
    env: options.env ?? {},
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Like {@linkcode command}, failing on a non-zero exit. */
async function check(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<string> {
  const result = await command(program, args, options);
  assert.equal(result.code, 0, `${program} ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** Copies host binaries, their shared libraries and the loader into `dir`. */
async function copyBinaries(dir: string, binaries: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const files = new Set<string>([LOADER]);
  for (const binary of binaries) {
    files.add(binary);
    for (const match of (await check("ldd", [binary])).matchAll(/=> (\/\S+)/g)) {
      files.add(match[1]!);
    }
  }
  for (const file of files) {
    const target = `${dir}/${file.slice(file.lastIndexOf("/") + 1)}`;
    await Deno.copyFile(await Deno.realPath(file), target);
    await Deno.chmod(target, 0o755);
  }
}

/** A private SSH agent with one fresh ed25519 key, stopped by `Symbol.asyncDispose`. */
async function startAgent(comment: string): Promise<
  {
    socket: string;
    publicKey: string;
    list(): Promise<string>;
  } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "berth-agent-" });
  const socket = `${dir}/agent.sock`;
  const agent = new Deno.Command("ssh-agent", {
    args: ["-D", "-a", socket],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      agent.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await agent.status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const deadline = Date.now() + 10_000;
    while (!(await Deno.lstat(socket).then((info) => info.isSocket, () => false))) {
      assert.ok(Date.now() < deadline, "ssh-agent did not create its socket");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const env = { SSH_AUTH_SOCK: socket };
    await check("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", `${dir}/k`]);
    await check("ssh-add", ["-q", `${dir}/k`], { env });
    const publicKey = await Deno.readTextFile(`${dir}/k.pub`);
    return {
      socket,
      publicKey,
      list: () => check("ssh-add", ["-l"], { env }),
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A temporary directory, removed by `Symbol.asyncDispose`. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "berth-output-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The files of a tar archive (names without `./`) and their text. */
async function tarFiles(archive: ReadableStream<Uint8Array>): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of readTar(archive)) {
    const name = entry.name.replace(/^\.?\//, "");
    if (entry.type === "file") files.set(name, await new Response(entry.body).text());
    else await entry.body.cancel();
  }
  return files;
}

/** The text of a build's `stream` lines and RUN output, for assertion messages. */
function buildText(events: readonly ImageBuildEvent[]): string {
  let text = "";
  for (const event of events) {
    if (typeof event.stream === "string") text += event.stream;
    for (const log of event.buildkit?.logs ?? []) text += decoder.decode(log.data);
  }
  return text;
}

/** Settles `promise` into the error it rejects with (or `undefined`). */
function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(() => undefined, (error: unknown) => error);
}

Deno.test("buildImage forwards SSH agents by id, read-only, to RUN --mount=type=ssh", async () => {
  using docker = client();
  await using agent = await startAgent("berth-test");
  await using work = await startAgent("berth-test-work");
  await using context = await contextDir({
    "k.pub": agent.publicKey,
    "Dockerfile": [
      `FROM ${testImage()} AS work`,
      "COPY x /x",
      "COPY k.pub /k.pub",
      "RUN mkdir /out",
      `RUN --mount=type=ssh ${X} /x/ssh-add -l > /out/list`,
      // Removing keys is refused: the exit status and message are kept.
      `RUN --mount=type=ssh ${X} /x/ssh-add -D > /out/delete 2>&1; echo $? > /out/delete.status`,
      "COPY --chmod=600 extra /extra",
      `RUN --mount=type=ssh ${X} /x/ssh-add /extra > /out/add 2>&1; echo $? > /out/add.status`,
      `RUN --mount=type=ssh echo data > /out/msg && ` +
      `${X} /x/ssh-keygen -Y sign -f /k.pub -n berth /out/msg`,
      `RUN --mount=type=ssh,id=work ${X} /x/ssh-add -l > /out/work`,
      "FROM scratch",
      "COPY --from=work /out /",
      "",
    ].join("\n"),
  });
  await copyBinaries(`${context.path}/x`, ["/usr/bin/ssh-add", "/usr/bin/ssh-keygen"]);
  // A key for the build to try to add to the agent.
  await check("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${context.path}/extra`]);
  await using dest = await tempDir();
  const events: ImageBuildEvent[] = [];
  const result = await buildImage(docker.api, context.path, {
    ...BUILDKIT,
    noCache: true,
    labels: { ...TEST_LABELS },
    ssh: { default: agent.socket, work: work.socket },
    output: { type: "local", dest: dest.path },
    onProgress: (event) => events.push(event),
  }).catch((error) => {
    throw new Error(`${error}\n${buildText(events)}`);
  });
  assert.deepEqual(result, { imageId: "", tags: [] });
  const read = (name: string) => Deno.readTextFile(`${dest.path}/${name}`);

  // 1. The build lists the agent's key, as the host does.
  const listed = await agent.list();
  assert.match(listed, /^256 SHA256:\S+ berth-test \(ED25519\)\n$/);
  assert.equal(await read("list"), listed);

  // 2. Removing the keys and adding one fail, and the agent is unchanged.
  assert.notEqual(await read("delete.status"), "0\n", await read("delete"));
  assert.match(await read("delete"), /fail/i);
  assert.notEqual(await read("add.status"), "0\n", await read("add"));
  assert.match(await read("add"), /agent refused operation/);
  assert.equal(await agent.list(), listed);

  // 3. Signing through the agent works: the host verifies the signature.
  const signers = `${dest.path}/allowed_signers`;
  await Deno.writeTextFile(signers, `berth-test ${agent.publicKey}`);
  const verified = await command(
    "ssh-keygen",
    [
      "-Y",
      "verify",
      "-f",
      signers,
      "-I",
      "berth-test",
      "-n",
      "berth",
      "-s",
      `${dest.path}/msg.sig`,
    ],
    { stdin: await Deno.readFile(`${dest.path}/msg`) },
  );
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /Good "berth" signature for berth-test/);

  // 4. A mount with an id gets the agent of that id.
  const workListed = await work.list();
  assert.match(workListed, / berth-test-work \(ED25519\)\n$/);
  assert.equal(await read("work"), workListed);
});

Deno.test("buildImage fails a required ssh mount whose id is not in ssh", async () => {
  using docker = client();
  await using agent = await startAgent("berth-test");
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nRUN --mount=type=ssh,id=absent,required=true true\n`,
  });
  const error = await rejection(buildImage(docker.api, context.path, {
    ...BUILDKIT,
    noCache: true,
    labels: { ...TEST_LABELS },
    ssh: { default: agent.socket },
  }));
  // The engine's message names what berth answered: "rpc error: code = NotFound desc = …".
  assert.ok(error instanceof DockerStreamError, String(error));
  assert.match(error.message, /unset ssh forward key absent/);
});

Deno.test("buildImage rejects ssh and output without BuildKit, before any I/O", () => {
  using docker = client();
  assert.throws(
    () => buildImage(docker.api, "/nonexistent", { ssh: { default: "/tmp/agent.sock" } }),
    { name: "TypeError", message: /version: "2"/ },
  );
  assert.throws(
    () =>
      buildImage(docker.api, "/nonexistent", {
        version: "1",
        output: { type: "tar", dest: "/tmp/out.tar" },
      }),
    { name: "TypeError", message: /version: "2"/ },
  );
});

/** A context whose build writes `/result.txt` (the value of ARG `VALUE`) over busybox. */
function resultContext(): Promise<{ path: string } & AsyncDisposable> {
  return contextDir({
    "Dockerfile": `FROM ${testImage()}\nARG VALUE\nRUN echo "$VALUE" > /result.txt\n`,
  });
}

Deno.test("buildImage writes a tar output to a file path", async () => {
  using docker = client();
  const value = crypto.randomUUID();
  await using context = await resultContext();
  await using dest = await tempDir();
  const file = `${dest.path}/out.tar`;
  const result = await buildImage(docker.api, context.path, {
    ...BUILDKIT,
    labels: { ...TEST_LABELS },
    buildArgs: { VALUE: value },
    output: { type: "tar", dest: file },
  });
  assert.deepEqual(result, { imageId: "", tags: [] });
  // The whole file system: busybox and what the RUN step wrote.
  const listing = (await check("tar", ["-tf", file])).split("\n");
  assert.ok(listing.includes("result.txt"), listing.join(" "));
  assert.ok(listing.includes("bin/busybox"), listing.join(" "));
  const files = await tarFiles((await Deno.open(file)).readable);
  assert.equal(files.get("result.txt"), `${value}\n`);
});

Deno.test("buildImage writes a tar output to a WritableStream", async () => {
  using docker = client();
  const value = crypto.randomUUID();
  await using context = await resultContext();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let closed = false;
  const result = await buildImage(docker.api, context.path, {
    ...BUILDKIT,
    labels: { ...TEST_LABELS },
    buildArgs: { VALUE: value },
    output: {
      type: "tar",
      dest: new WritableStream({
        write: (chunk) => void chunks.push(chunk.slice()),
        close: () => void (closed = true),
      }),
    },
  });
  assert.deepEqual(result, { imageId: "", tags: [] });
  assert.ok(closed, "the stream was not closed when the build settled");
  const files = await tarFiles(new Blob(chunks).stream());
  assert.equal(files.get("result.txt"), `${value}\n`);
  assert.ok(files.has("bin/busybox"), [...files.keys()].join(" "));
});

Deno.test("buildImage unpacks a local output into a directory, again over an earlier one", async () => {
  using docker = client();
  await using context = await resultContext();
  await using dest = await tempDir();
  const out = `${dest.path}/out`; // Created by the build.
  const build = (value: string) =>
    buildImage(docker.api, context.path, {
      ...BUILDKIT,
      labels: { ...TEST_LABELS },
      buildArgs: { VALUE: value },
      output: { type: "local", dest: out },
    });
  const first = crypto.randomUUID();
  assert.deepEqual(await build(first), { imageId: "", tags: [] });
  assert.equal(await Deno.readTextFile(`${out}/result.txt`), `${first}\n`);
  // busybox's applets are hard links to one binary: they are there too.
  assert.ok((await Deno.stat(`${out}/bin/sh`)).isFile);
  assert.equal(
    (await Deno.stat(`${out}/bin/sh`)).size,
    (await Deno.stat(`${out}/bin/busybox`)).size,
  );

  await Deno.writeTextFile(`${out}/result.txt`, "changed on the host\n");
  const second = crypto.randomUUID();
  assert.deepEqual(await build(second), { imageId: "", tags: [] });
  assert.equal(await Deno.readTextFile(`${out}/result.txt`), `${second}\n`);
});

Deno.test("buildImage's local output: an absolute symlink fails it by default, skip-outside leaves it out", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": [
      `FROM ${testImage()} AS tree`,
      "RUN mkdir -p /out/etc && echo cfg > /out/etc/app.conf && " +
      "ln -s app.conf /out/etc/current && ln -s /etc/passwd /out/etc/host-passwd",
      "FROM scratch",
      "COPY --from=tree /out /",
      "",
    ].join("\n"),
  });
  await using dest = await tempDir();
  const build = (out: string, symlinks?: "skip-outside") =>
    buildImage(docker.api, context.path, {
      ...BUILDKIT,
      labels: { ...TEST_LABELS },
      output: symlinks ? { type: "local", dest: out, symlinks } : { type: "local", dest: out },
    });
  const refused = await rejection(build(`${dest.path}/default`));
  assert.ok(refused instanceof DockerStreamError, String(refused));
  assert.match(refused.message, /berth could not store the build output: .*\/etc\/passwd/);

  const out = `${dest.path}/kept`;
  assert.deepEqual(await build(out, "skip-outside"), { imageId: "", tags: [] });
  assert.equal(await Deno.readLink(`${out}/etc/current`), "app.conf");
  assert.equal(await Deno.readTextFile(`${out}/etc/current`), "cfg\n");
  await assert.rejects(Deno.lstat(`${out}/etc/host-passwd`), Deno.errors.NotFound);

  // A policy that is not one is refused before anything is sent.
  assert.throws(
    () =>
      buildImage(docker.api, context.path, {
        ...BUILDKIT,
        output: { type: "local", dest: out, symlinks: "follow" as "skip" },
      }),
    { name: "TypeError", message: /output.symlinks must be one of/ },
  );
});

Deno.test("buildImage rejects when its output cannot be stored", async () => {
  using docker = client();
  await using context = await resultContext();
  await using dest = await tempDir();
  const file = `${dest.path}/file`;
  await Deno.writeTextFile(file, "a file, not a directory\n");
  const outputs = [
    // A local output into an existing regular file.
    [{ type: "local", dest: file }, /File exists/],
    // A tar output into a directory that does not exist.
    [{ type: "tar", dest: `${dest.path}/missing/out.tar` }, /No such file or directory/],
  ] as const;
  for (const [output, reason] of outputs) {
    const error = await rejection(buildImage(docker.api, context.path, {
      ...BUILDKIT,
      labels: { ...TEST_LABELS },
      buildArgs: { VALUE: crypto.randomUUID() },
      output,
    }));
    // The engine fails the export with what berth told it.
    assert.ok(error instanceof DockerStreamError, String(error));
    assert.match(error.message, /berth could not store the build output: /);
    assert.match(error.message, reason);
    assert.ok(error.message.includes(output.dest), error.message);
  }
  assert.equal(await Deno.readTextFile(file), "a file, not a directory\n");
  await assert.rejects(Deno.stat(`${dest.path}/missing`), Deno.errors.NotFound);
});

Deno.test("buildImage sends ulimits and cacheFrom to the classic builder", async () => {
  using docker = client();
  const name = uniqueName("cachefrom");
  await using context = await contextDir({
    "Dockerfile":
      `FROM ${testImage()}\nRUN echo ${crypto.randomUUID()} && ulimit -n && ulimit -Hn\n`,
  });
  const images = new Set<string>();
  const build = async (options: ImageBuildOptions) => {
    let output = "";
    const { imageId } = await buildImage(docker.api, context.path, {
      labels: { ...TEST_LABELS },
      ...options,
      onProgress: (event) => output += event.stream ?? "",
    });
    images.add(imageId);
    return { imageId, output };
  };
  try {
    const limited = await build({
      tags: [`${name}:1`],
      ulimits: [{ Name: "nofile", Soft: 1024, Hard: 2048 }],
    });
    assert.match(limited.output, /\n1024\n2048\n/);

    // With cacheFrom, only the images listed serve as cache.
    const cached = await build({ cacheFrom: [`${name}:1`] });
    assert.match(cached.output, /Using cache/);
    assert.equal(cached.imageId, limited.imageId);
    const uncached = await build({ cacheFrom: [testImage()] });
    assert.doesNotMatch(uncached.output, /Using cache/);
    assert.notEqual(uncached.imageId, limited.imageId);
  } finally {
    for (const image of images) await docker.images.remove(image, { force: true }).catch(() => {});
  }
});
