/**
 * `extractTar` with too few Deno permissions: a `DockerError` naming the
 * flags to add, from a separate process run with those flags missing
 * (without `--allow-write`; with scoped flags, which Deno 2.9 does not
 * accept for `Deno.symlink`).
 */

import assert from "node:assert/strict";

interface Outcome {
  name: string;
  message?: string;
  cause?: string;
  result?: { entries: number; bytes: number; skipped: number };
}

/**
 * Runs `extractTar(tarStream(entries), dest, options)` in a new Deno process
 * with `flags`.
 *
 * @param dir The temp dir the script goes in.
 * @param flags Permission flags of the process.
 * @param dest Where to extract.
 * @param entries The archive's entries, as JSON.
 * @param options The extraction options, as JSON.
 * @returns What happened: an error's name, message and cause, or the result.
 */
async function extractWith(
  dir: string,
  flags: string[],
  dest: string,
  entries: unknown[],
  options: Record<string, unknown> = {},
): Promise<Outcome> {
  const script = `${dir}/extract.ts`;
  const src = new URL("../../src/", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { extractTar } from "${src}stream/extract.ts";
import { tarStream } from "${src}stream/tar.ts";
try {
  const result = await extractTar(tarStream(${JSON.stringify(entries)}), ${JSON.stringify(dest)}, ${
      JSON.stringify(options)
    });
  console.log(JSON.stringify({ name: "none", result }));
} catch (error) {
  console.log(JSON.stringify({
    name: error.name,
    message: error.message,
    cause: error.cause?.constructor?.name ?? "",
  }));
}
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-lock", "--no-config", ...flags, script],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("extractTar without write permission on dest: a DockerError naming the flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-extract-perm-" });
  try {
    const outcome = await extractWith(dir, ["--allow-read"], `${dir}/out`, [
      { name: "a.txt", body: "x" },
    ]);
    assert.equal(outcome.name, "DockerError", outcome.message);
    assert.equal(outcome.cause, "NotCapable");
    assert.equal(
      outcome.message,
      `Cannot extract into "${dir}/out": run with --allow-read=${dir}/out --allow-write=${dir}/out`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractTar of a symlink with scoped flags: a DockerError saying symlinks need them unscoped", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "berth-extract-perm-" }));
  try {
    const dest = `${dir}/out`;
    const scoped = [`--allow-read=${dest}`, `--allow-write=${dest}`];
    const entries = [
      { name: "d", type: "directory", mode: 0o700 },
      { name: "d/a.txt", body: "hi" },
      { name: "d/hard", type: "hardlink", linkname: "d/a.txt" },
      { name: "d/link", type: "symlink", linkname: "a.txt" },
    ];
    const outcome = await extractWith(dir, scoped, dest, entries);
    assert.equal(outcome.name, "DockerError", outcome.message);
    assert.equal(outcome.cause, "NotCapable");
    assert.equal(
      outcome.message,
      `Cannot extract into "${dest}": creating the symlink "d/link" needs unscoped --allow-read --allow-write (Deno refuses Deno.symlink under path-scoped grants); run with them, or extract with symlinks: "skip"`,
    );
    // What the failure leaves: files and hard links, directory modes applied.
    assert.equal((await Deno.lstat(`${dest}/d`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(`${dest}/d/hard`)).ino, (await Deno.stat(`${dest}/d/a.txt`)).ino);
    await assert.rejects(Deno.lstat(`${dest}/d/link`), Deno.errors.NotFound);
    // The way out the message gives works with the same flags.
    await Deno.remove(dest, { recursive: true });
    const skipped = await extractWith(dir, scoped, dest, entries, { symlinks: "skip" });
    assert.deepEqual(skipped, { name: "none", result: { entries: 4, bytes: 2, skipped: 1 } });
    // And unscoped flags create it.
    await Deno.remove(dest, { recursive: true });
    const unscoped = await extractWith(dir, ["--allow-read", "--allow-write"], dest, entries);
    assert.deepEqual(unscoped, { name: "none", result: { entries: 4, bytes: 2, skipped: 0 } });
    assert.equal(await Deno.readLink(`${dest}/d/link`), "a.txt");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
