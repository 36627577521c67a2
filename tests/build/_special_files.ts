/**
 * Helpers of the tests that put FIFOs and device nodes in a build context
 * (`context_test.ts`, `filesync_transfer_test.ts`).
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

/**
 * Makes the two device nodes the tests expect in `root`: `null`, character
 * device 1,3 (mode 0666), and `loop`, block device 7,1000 (mode 0600).
 * Needs {@linkcode canMknod}.
 */
export async function makeDevices(root: string): Promise<void> {
  await command("mknod", `${root}/null`, "c", "1", "3");
  await command("mknod", `${root}/loop`, "b", "7", "1000");
  await Deno.chmod(`${root}/null`, 0o666);
  await Deno.chmod(`${root}/loop`, 0o600);
}
