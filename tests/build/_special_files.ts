/**
 * Helpers of the tests that put FIFOs and device nodes in a build context
 * (`context_test.ts`, `filesync_test.ts`).
 */

import assert from "node:assert/strict";

/** Whether this process may make device nodes (root, with CAP_MKNOD): the device steps need it. */
export const canMknod: boolean = await (async () => {
  if (Deno.uid() !== 0) return false;
  const dir = await Deno.makeTempDir({ prefix: "berth-mknod-probe-" });
  try {
    const args = [`${dir}/probe`, "c", "1", "3"];
    return (await new Deno.Command("mknod", { args, stderr: "null" }).output()).success;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
})();

/** Runs a command that must succeed (mkfifo, mknod). */
export async function command(name: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command(name, { args, stderr: "piped" }).output();
  assert.ok(
    output.success,
    `${name} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
  );
}
