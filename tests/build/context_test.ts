import assert from "node:assert/strict";
import { packContext } from "../../src/build/context.ts";
import { readTar, type TarReaderEntry } from "../../src/stream/tar.ts";
import { canMknod, command, makeDevices } from "./_special_files.ts";

interface Entry extends Omit<TarReaderEntry, "body"> {
  text: string;
}

async function list(stream: ReadableStream<Uint8Array>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const entry of readTar(stream)) {
    const { body, ...rest } = entry;
    out.push({ ...rest, text: await new Response(body).text() });
  }
  return out;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function write(root: string, path: string, text: string, mode = 0o644): Promise<void> {
  const full = `${root}/${path}`;
  await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(full, text);
  await Deno.chmod(full, mode);
}

/** `promise`, or a failure after `ms`: a walk that opens a FIFO would wait forever. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The raw type flag and device number fields of each header, by name (short names only). */
function rawHeaders(bytes: Uint8Array): Map<string, string[]> {
  const decoder = new TextDecoder();
  const field = (at: number, length: number) => {
    const part = bytes.subarray(at, at + length);
    const end = part.indexOf(0);
    return decoder.decode(end === -1 ? part : part.subarray(0, end));
  };
  const out = new Map<string, string[]>();
  for (let at = 0; at < bytes.length && bytes[at] !== 0; at += 512) {
    const size = field(at + 124, 12);
    out.set(field(at, 100), [field(at + 156, 1), size, field(at + 329, 8), field(at + 337, 8)]);
    at += Math.ceil(parseInt(size, 8) / 512) * 512;
  }
  return out;
}

/** A context tree with ignored files, links and odd modes. */
async function makeContext(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "berth-context-" });
  await write(root, "Dockerfile", "FROM scratch\n");
  await write(
    root,
    ".dockerignore",
    "# ignore secrets and build output\n*.secret\nDockerfile\n.dockerignore\nout\n" +
      "docs\n!docs/keep.md\n",
  );
  await write(root, "app.txt", "app\n", 0o640);
  await write(root, "run.sh", "#!/bin/sh\n", 0o755);
  await write(root, "key.secret", "secret\n");
  await write(root, "out/bundle.js", "bundle\n");
  await write(root, "out/deep/more.js", "more\n");
  await write(root, "docs/keep.md", "keep\n");
  await write(root, "docs/drop.md", "drop\n");
  await write(root, "src/b.ts", "b\n");
  await write(root, "src/a.ts", "a\n");
  await write(root, "src.txt", "sorted after src/\n");
  await Deno.symlink("../../outside/target", `${root}/escape`);
  await Deno.symlink("app.txt", `${root}/alias`);
  await Deno.link(`${root}/app.txt`, `${root}/same.txt`);
  await Deno.utime(`${root}/app.txt`, 1_500_000_000, 1_600_000_000);
  await Deno.utime(`${root}/src`, 1_500_000_000, 1_700_000_000);
  return root;
}

Deno.test("packContext leaves out ignored files and keeps the Dockerfile and .dockerignore", async () => {
  const root = await makeContext();
  try {
    const entries = await list(await packContext(root));
    const names = entries.map((entry) => entry.name);
    assert.deepEqual(names, [
      ".dockerignore",
      "Dockerfile",
      "alias",
      "app.txt",
      "docs/keep.md",
      "escape",
      "run.sh",
      "same.txt",
      "src/",
      "src/a.ts",
      "src/b.ts",
      "src.txt",
    ]);
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    assert.equal(byName.get("Dockerfile")?.text, "FROM scratch\n");
    assert.match(byName.get(".dockerignore")?.text ?? "", /\*\.secret/);
    assert.equal(byName.get("docs/keep.md")?.text, "keep\n");
    assert.equal(byName.get("src/a.ts")?.text, "a\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext keeps symlinks as symlinks, even pointing outside the context", async () => {
  const root = await makeContext();
  try {
    const entries = await list(await packContext(root));
    const escape = entries.find((entry) => entry.name === "escape");
    const alias = entries.find((entry) => entry.name === "alias");
    assert.equal(escape?.type, "symlink");
    assert.equal(escape?.linkname, "../../outside/target");
    assert.equal(escape?.size, 0);
    assert.equal(alias?.type, "symlink");
    assert.equal(alias?.linkname, "app.txt");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext keeps modes and mtimes and sends hard links once", async () => {
  const root = await makeContext();
  try {
    const entries = await list(await packContext(root));
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    const app = byName.get("app.txt")!;
    assert.equal(app.type, "file");
    assert.equal(app.mode, 0o640);
    assert.equal(app.mtime, 1_600_000_000);
    assert.equal(app.text, "app\n");
    assert.equal(app.uid, 0);
    assert.equal(app.gid, 0);
    assert.equal(byName.get("run.sh")?.mode, 0o755);
    const src = byName.get("src/")!;
    assert.equal(src.type, "directory");
    assert.equal(src.mtime, 1_700_000_000);
    const same = byName.get("same.txt")!;
    assert.equal(same.type, "hardlink");
    assert.equal(same.linkname, "app.txt");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext gives the same bytes for the same tree", async () => {
  const root = await makeContext();
  try {
    const first = await bytesOf(await packContext(root));
    const second = await bytesOf(await packContext(root));
    assert.deepEqual(first, second);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext uses excludes instead of .dockerignore", async () => {
  const root = await makeContext();
  try {
    const all = await list(await packContext(root, { excludes: [] }));
    assert.ok(all.some((entry) => entry.name === "key.secret"));
    assert.ok(all.some((entry) => entry.name === "out/deep/more.js"));
    const some = await list(await packContext(root, { excludes: ["src", "*.txt", "out/deep"] }));
    const names = some.map((entry) => entry.name);
    assert.ok(!names.some((name) => name.startsWith("src")));
    assert.ok(names.includes("out/bundle.js"));
    assert.ok(!names.includes("out/deep/"));
    assert.ok(names.includes("key.secret"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext always sends a Dockerfile at another path", async () => {
  const root = await makeContext();
  try {
    await write(root, "build/docker/Dockerfile.dev", "FROM scratch\n");
    const entries = await list(
      await packContext(root, { dockerfile: "./build/docker/Dockerfile.dev", excludes: ["build"] }),
    );
    const names = entries.map((entry) => entry.name);
    assert.ok(names.includes("build/docker/Dockerfile.dev"));
    assert.ok(!names.includes("build/"));
    const absolute = await list(
      await packContext(root, {
        dockerfile: `${root}/build/docker/Dockerfile.dev`,
        excludes: ["*"],
      }),
    );
    // Like the docker CLI, .dockerignore is sent whatever the patterns say.
    assert.deepEqual(absolute.map((entry) => entry.name), [
      ".dockerignore",
      "build/docker/Dockerfile.dev",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext rejects a path that is not a directory with TypeError", async () => {
  const root = await makeContext();
  try {
    await assert.rejects(() => packContext(`${root}/app.txt`), TypeError);
    await assert.rejects(() => packContext(`${root}/missing`), TypeError);
    await assert.rejects(() => packContext(""), TypeError);
    await assert.rejects(() => packContext(new URL("https://example.com/ctx")), TypeError);
    await assert.rejects(() => packContext(root, { dockerfile: "../Dockerfile" }), TypeError);
    await assert.rejects(() => packContext(root, { dockerfile: "/etc/Dockerfile" }), TypeError);
    await assert.rejects(() => packContext(root, { excludes: ["[oops"] }), TypeError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext accepts a file: URL", async () => {
  const root = await makeContext();
  try {
    const entries = await list(await packContext(new URL(`file://${root}/`)));
    assert.ok(entries.some((entry) => entry.name === "app.txt"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext streams a 200 MiB file without buffering it", async () => {
  const root = await Deno.makeTempDir({ prefix: "berth-context-big-" });
  try {
    const size = 200 * 1024 * 1024;
    await Deno.writeTextFile(`${root}/Dockerfile`, "FROM scratch\n");
    // Sparse: no disk space used, reads return zeros.
    await using file = await Deno.open(`${root}/big.bin`, { write: true, create: true });
    await file.truncate(size);
    let total = 0;
    let largest = 0;
    let chunks = 0;
    const before = Deno.memoryUsage().rss;
    let peak = before;
    for await (const chunk of await packContext(root)) {
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
      if (++chunks % 256 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
    }
    // Two headers, the Dockerfile's block, the file, two end blocks.
    assert.equal(total, 512 + 512 + 512 + size + 1024);
    assert.ok(largest <= 1024 * 1024, `a chunk of ${largest} bytes`);
    assert.ok(chunks > 100, `only ${chunks} chunks`);
    // Loose bound: far below the file size, whatever the allocator keeps.
    assert.ok(peak - before < 100 * 1024 * 1024, `RSS grew by ${peak - before} bytes`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext cancelled midway closes the open file", async () => {
  const root = await Deno.makeTempDir({ prefix: "berth-context-cancel-" });
  try {
    await Deno.writeFile(`${root}/data.bin`, new Uint8Array(1024 * 1024));
    const reader = (await packContext(root)).getReader();
    await reader.read(); // header
    await reader.read(); // first chunk of data.bin: the file is open
    await reader.cancel();
    // The sanitizers fail the test if the file stayed open.
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext fails the stream when a file shrinks while it is sent", async () => {
  const root = await Deno.makeTempDir({ prefix: "berth-context-shrink-" });
  try {
    await Deno.writeFile(`${root}/data.bin`, new Uint8Array(256 * 1024));
    const reader = (await packContext(root)).getReader();
    await reader.read(); // header: size 256 KiB is fixed now
    await Deno.truncate(`${root}/data.bin`, 1000);
    await assert.rejects(async () => {
      while (!(await reader.read()).done) { /* drain */ }
    }, /shrank/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext names the missing read permission instead of leaking Deno's error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-context-perm-" });
  try {
    const module = new URL("../../src/build/context.ts", import.meta.url).href;
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(
      script,
      `import { packContext } from ${JSON.stringify(module)};
try {
  await packContext(${JSON.stringify(dir)});
  console.log("ok");
} catch (error) {
  console.log(error.name + ": " + error.message);
}
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-lock", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(output.stdout).trim(),
      `DockerError: Cannot read the build context "${dir}": run with --allow-read=${dir}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("packContext skips an entry that vanishes while the directory is packed", async () => {
  const root = await Deno.makeTempDir({ prefix: "berth-context-vanish-" });
  try {
    for (const name of ["a", "b", "c", "y", "z"]) await write(root, name, `${name}\n`);
    const reader = readTar(await packContext(root))[Symbol.asyncIterator]();
    const first = await reader.next();
    assert.equal(first.done, false);
    await first.value.body.cancel();
    // Listed already, not looked at yet: gone before the walk reaches it.
    await Deno.remove(`${root}/z`);
    const rest: string[] = [];
    for (let next = await reader.next(); !next.done; next = await reader.next()) {
      rest.push(next.value.name);
      await next.value.body.cancel();
    }
    assert.deepEqual([first.value.name, ...rest], ["a", "b", "c", "y"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packContext sends FIFOs and devices as the docker CLI does, never opening them, and leaves out sockets", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "berth-context-special-" });
  try {
    await t.step(
      "a FIFO: type flag 6, size 0, its mode and mtime; its second name a hard link; a socket left out",
      async () => {
        await write(root, "Dockerfile", "FROM scratch\n");
        await command("mkfifo", `${root}/pipe`);
        await Deno.chmod(`${root}/pipe`, 0o640);
        await Deno.utime(`${root}/pipe`, 1_500_000_000, 1_600_000_000);
        await Deno.link(`${root}/pipe`, `${root}/pipe2`);
        // Deno removes a Unix socket's file when its listener closes: close it after the walk.
        using _socket = Deno.listen({ transport: "unix", path: `${root}/agent.sock` });
        assert.ok((await Deno.lstat(`${root}/agent.sock`)).isSocket, "the socket is there");

        // Opening the FIFO for reading would wait for a writer that never comes.
        const bytes = await within(bytesOf(await packContext(root)), 10_000, "packing the FIFO");
        const entries = await list(ReadableStream.from([bytes]));
        assert.deepEqual(
          entries.map((e) => [e.name, e.type, e.typeflag, e.size, e.mode, e.linkname, e.text]),
          [
            ["Dockerfile", "file", "0", 13, 0o644, "", "FROM scratch\n"],
            ["pipe", "other", "6", 0, 0o640, "", ""],
            ["pipe2", "hardlink", "1", 0, 0o640, "pipe", ""],
          ],
        );
        assert.equal(entries[1]!.mtime, 1_600_000_000);
        assert.deepEqual(rawHeaders(bytes).get("pipe"), ["6", "00000000000", "0000000", "0000000"]);
      },
    );

    await t.step({
      name:
        "character and block devices: type flags 3 and 4 with major and minor (needs root: mknod)",
      ignore: !canMknod,
      fn: async () => {
        await makeDevices(root);
        const bytes = await within(bytesOf(await packContext(root)), 10_000, "packing devices");
        const headers = rawHeaders(bytes);
        assert.deepEqual(headers.get("null"), ["3", "00000000000", "0000001", "0000003"]);
        assert.deepEqual(headers.get("loop"), ["4", "00000000000", "0000007", "0001750"]);
        const entries = await list(ReadableStream.from([bytes]));
        assert.deepEqual(
          entries.map((e) => [e.name, e.typeflag, e.size, e.mode, e.text]),
          [
            ["Dockerfile", "0", 13, 0o644, "FROM scratch\n"],
            ["loop", "4", 0, 0o600, ""],
            ["null", "3", 0, 0o666, ""],
            ["pipe", "6", 0, 0o640, ""],
            ["pipe2", "1", 0, 0o640, ""],
          ],
        );
      },
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
