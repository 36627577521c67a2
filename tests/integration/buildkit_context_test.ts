/**
 * A BuildKit build's directory context, read by the engine through the
 * session (`remote=client-session`, fsutil's DiffCopy), against the real
 * test engine: what arrives (files, modes, links, exclusions), what a
 * second build of the same directory sends (only what changed), and where
 * the Dockerfile may be.
 */

import assert from "node:assert/strict";
import { buildImage, type ImageBuildEvent } from "../../src/api/_build.ts";
import { TEST_LABELS, testImage, uniqueName } from "./_docker.ts";
import { client, contextDir, runIn } from "./_build.ts";

const BUILDKIT = { version: "2", networkMode: "none", labels: { ...TEST_LABELS } } as const;

/** The most context bytes the engine reported receiving in one transfer. */
function transferred(events: readonly ImageBuildEvent[]): number {
  let most = -1;
  for (const event of events) {
    for (const status of event.buildkit?.statuses ?? []) {
      if (status.id.startsWith("transferring context")) most = Math.max(most, status.current);
    }
  }
  return most;
}

/** `size` random bytes (getRandomValues gives at most 64 KiB at a time). */
function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  }
  return out;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The images a test builds, removed at the end of its block. */
function built(docker: ReturnType<typeof client>): Set<string> & AsyncDisposable {
  return Object.assign(new Set<string>(), {
    async [Symbol.asyncDispose](this: Set<string>) {
      for (const image of this) await docker.images.remove(image, { force: true }).catch(() => {});
    },
  });
}

/** Builds `path` and returns the image id and the context bytes the engine received. */
async function build(
  docker: ReturnType<typeof client>,
  path: string,
  images: Set<string>,
  options: Parameters<typeof buildImage>[2] = {},
): Promise<{ imageId: string; sent: number }> {
  const events: ImageBuildEvent[] = [];
  const { imageId } = await buildImage(docker.api, path, {
    ...BUILDKIT,
    ...options,
    onProgress: (event) => events.push(event),
  });
  images.add(imageId);
  return { imageId, sent: transferred(events) };
}

Deno.test("a BuildKit build reads a directory through the session: files, modes, links, exclusions", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nCOPY . /ctx\n`,
    ".dockerignore": "ignored\n*.tmp\nkeep-out\n!keep-out/wanted\n",
    "a.txt": "a\n",
    "sub/deep/file.txt": "deep\n",
    "sub/sp ace é.txt": "unicode\n",
    "ignored/secret": "never sent\n",
    "scratch.tmp": "never sent\n",
    "keep-out/unwanted": "never sent\n",
    "keep-out/wanted": "sent\n",
  });
  const root = context.path;
  const big = randomBytes(2.5 * 1024 * 1024); // 2.5 MiB
  await Deno.writeFile(`${root}/big.bin`, big);
  await Deno.mkdir(`${root}/empty`);
  await Deno.symlink("a.txt", `${root}/link`);
  await Deno.link(`${root}/a.txt`, `${root}/sub/hard`);
  await Deno.chmod(`${root}/sub/deep`, 0o4750);
  await Deno.chmod(`${root}/a.txt`, 0o600);
  await using images = built(docker);
  const { imageId, sent } = await build(docker, root, images, { tags: [uniqueName("ctx")] });
  assert.ok(sent >= big.length, `the engine reported ${sent} context bytes`);
  const listing = await runIn(
    docker.containers,
    imageId,
    "cd /ctx && find . | sort && stat -c '%n %a %h' a.txt sub/hard sub/deep && " +
      "readlink link && cat keep-out/wanted && sha256sum big.bin",
  );
  assert.equal(
    listing,
    [
      ".",
      "./.dockerignore",
      "./Dockerfile",
      "./a.txt",
      "./big.bin",
      "./empty",
      "./keep-out",
      "./keep-out/wanted",
      "./link",
      "./sub",
      "./sub/deep",
      "./sub/deep/file.txt",
      "./sub/hard",
      "./sub/sp ace é.txt",
      // Hard links stay one file with two names; set-uid survives.
      "a.txt 600 2",
      "sub/hard 600 2",
      "sub/deep 4750 2",
      "a.txt",
      "sent",
      `${await sha256(big)}  big.bin`,
      "",
    ].join("\n"),
  );
});

Deno.test("a second BuildKit build of a directory sends only what changed, and sees changes and removals", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nCOPY . /ctx\n`,
    "small.txt": "first\n",
    "gone.txt": "removed later\n",
  });
  const root = context.path;
  await Deno.writeFile(`${root}/big.bin`, randomBytes(2 * 1024 * 1024));
  await using images = built(docker);
  const look = "cd /ctx && ls && cat small.txt";
  const first = await build(docker, root, images);
  assert.ok(first.sent > 2_000_000, `first transfer: ${first.sent} bytes`);

  const same = await build(docker, root, images);
  assert.ok(same.sent < 10_000, `unchanged: ${same.sent} bytes`);
  assert.equal(same.imageId, first.imageId); // Nothing changed: every step cached.

  await Deno.writeTextFile(`${root}/small.txt`, "second, longer\n");
  await Deno.remove(`${root}/gone.txt`);
  const changed = await build(docker, root, images);
  assert.ok(changed.sent < 10_000, `one small file changed: ${changed.sent} bytes`);
  assert.notEqual(changed.imageId, first.imageId);
  assert.equal(
    await runIn(docker.containers, changed.imageId, look),
    "Dockerfile\nbig.bin\nsmall.txt\nsecond, longer\n",
  );
});

Deno.test("a BuildKit build finds its Dockerfile in a subdirectory, excluded, or behind a symlink", async () => {
  using docker = client();
  await using context = await contextDir({
    "docker/app.Dockerfile": `FROM ${testImage()}\nCOPY . /ctx\nRUN ls /ctx\n`,
    "docker/real.Dockerfile": `FROM ${testImage()}\nCOPY app.txt /app.txt\n`,
    ".dockerignore": "docker\n",
    "app.txt": "app\n",
  });
  const root = context.path;
  await Deno.symlink("docker/real.Dockerfile", `${root}/Dockerfile`);
  await using images = built(docker);
  // Excluded by .dockerignore, yet read: the session lends its directory.
  const sub = await build(docker, root, images, { dockerfile: "docker/app.Dockerfile" });
  // As with the docker CLI and BuildKit, the patterns apply as they are.
  assert.equal(
    await runIn(docker.containers, sub.imageId, "ls -a /ctx"),
    ".\n..\n.dockerignore\nDockerfile\napp.txt\n",
  );
  const linked = await build(docker, root, images);
  assert.equal(await runIn(docker.containers, linked.imageId, "cat /app.txt"), "app\n");
});

Deno.test("excludes replaces .dockerignore for a BuildKit build too", async () => {
  using docker = client();
  await using context = await contextDir({
    "Dockerfile": `FROM ${testImage()}\nCOPY . /ctx\n`,
    ".dockerignore": "*.txt\n",
    "kept.txt": "kept\n",
    "debug.log": "log\n",
  });
  await using images = built(docker);
  const all = await build(docker, context.path, images, { excludes: [] });
  assert.equal(
    await runIn(docker.containers, all.imageId, "ls /ctx"),
    "Dockerfile\ndebug.log\nkept.txt\n",
  );
  const some = await build(docker, context.path, images, { excludes: ["*.log"] });
  assert.equal(
    await runIn(docker.containers, some.imageId, "ls /ctx"),
    "Dockerfile\nkept.txt\n",
  );
});

Deno.test("aborting a BuildKit build while its context is sent stops the transfer; the next build works", async () => {
  using docker = client();
  await using context = await contextDir({ "Dockerfile": `FROM ${testImage()}\nCOPY . /ctx\n` });
  // Enough bytes that the abort lands while they are still on their way.
  for (let i = 0; i < 8; i++) {
    await Deno.writeFile(`${context.path}/part-${i}.bin`, randomBytes(16 * 1024 * 1024));
  }
  await using images = built(docker);
  const controller = new AbortController();
  const reason = new Error("stop the transfer");
  let seen = 0;
  const started = performance.now();
  await assert.rejects(
    async () =>
      await buildImage(docker.api, context.path, {
        ...BUILDKIT,
        signal: controller.signal,
        onProgress: (event) => {
          for (const status of event.buildkit?.statuses ?? []) {
            if (!status.id.startsWith("transferring context")) continue;
            seen = Math.max(seen, status.current);
            if (seen > 1024 * 1024) controller.abort(reason);
          }
        },
      }),
    (error: unknown) => error === reason,
  );
  assert.ok(seen < 128 * 1024 * 1024, `the whole context went (${seen} bytes) before the abort`);
  assert.ok(performance.now() - started < 30_000);
  // The engine is not left stuck on the cancelled transfer.
  await Deno.writeTextFile(
    `${context.path}/Dockerfile`,
    `FROM ${testImage()}\nCOPY part-0.bin /\n`,
  );
  const again = await build(docker, context.path, images);
  assert.ok(again.imageId.startsWith("sha256:"));
});
