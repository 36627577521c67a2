/**
 * `extractTar` where Deno may not write: a `DockerError` naming the flags,
 * from a separate process run without `--allow-write`.
 */

import assert from "node:assert/strict";

Deno.test("extractTar without write permission on dest: a DockerError naming the flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-extract-perm-" });
  try {
    const script = `${dir}/extract.ts`;
    const src = new URL("../../src/", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { extractTar } from "${src}stream/extract.ts";
import { tarStream } from "${src}stream/tar.ts";
try {
  await extractTar(tarStream([{ name: "a.txt", body: "x" }]), ${JSON.stringify(`${dir}/out`)});
  console.log(JSON.stringify({ name: "none" }));
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
      args: ["run", "--no-prompt", "--no-lock", "--no-config", "--allow-read", script],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const outcome = JSON.parse(new TextDecoder().decode(output.stdout));
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
