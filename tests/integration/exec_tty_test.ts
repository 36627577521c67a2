/**
 * Exec with a TTY and stdin against the real test engine. When the input of
 * a TTY session ends, the engine closes the session's output instead of the
 * process's stdin (moby container/stream/attach.go), so `exec.run` refuses
 * `tty` with `stdin`; an interactive session ends its input as a terminal
 * does, with Ctrl-D.
 */

import assert from "node:assert/strict";
import type { Docker, DockerCallEvent } from "../../mod.ts";
import { testDocker, text, uniqueName, withContainer } from "./_docker.ts";

const encoder = new TextEncoder();

/** Polls an exec until the engine reports it finished, and returns its exit code. */
async function exitCodeOf(docker: Docker, id: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = await docker.exec.inspect(id);
    if (!state.Running && typeof state.ExitCode === "number") return state.ExitCode;
    if (Date.now() > deadline) throw new Error(`exec ${id} still running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("Exec.run rejects `tty` with `stdin` with a TypeError that says why, before any I/O", async () => {
  const calls: DockerCallEvent[] = [];
  await using docker = testDocker({ observer: (call) => calls.push(call) });
  // A container that does not exist: any request would fail with DockerNotFoundError.
  const missing = uniqueName("nobody");
  const inputs = [
    "x\n",
    "",
    encoder.encode("x\n"),
    ReadableStream.from([encoder.encode("x\n")]),
  ];
  for (const stdin of inputs) {
    const result = docker.exec.run(missing, ["cat"], { tty: true, stdin });
    await assert.rejects(result, (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /`stdin`.*`tty`/);
      assert.match(error.message, /never sees EOF/);
      assert.match(error.message, /without `tty`/);
      assert.match(error.message, /exec\.start/);
      assert.match(error.message, /Ctrl-D \("\\x04"\)/);
      return true;
    });
  }
  assert.deepEqual(calls.map((call) => call.path), []);
  // Either one alone is fine.
  await withContainer(docker, { Cmd: ["sleep", "60"] }, async (id) => {
    await docker.containers.start(id);
    const piped = await docker.exec.run(id, ["cat"], { stdin: "x\n" });
    assert.deepEqual([piped.exitCode, text(piped.stdout)], [0, "x\n"]);
    const tty = await docker.exec.run(id, ["sh", "-c", "sleep 0.2; echo hi"], { tty: true });
    assert.deepEqual([tty.exitCode, text(tty.stdout)], [0, "hi\r\n"]);
  });
});

for (const worker of [false, true]) {
  Deno.test(`Exec.start ${worker ? "in a worker" : "on this thread"}: a TTY session's input ends with Ctrl-D; cat's output arrives and it exits 0`, async () => {
    await using docker = testDocker();
    await withContainer(docker, { Cmd: ["sleep", "60"] }, async (containerId) => {
      await docker.containers.start(containerId);
      const { Id } = await docker.exec.create(containerId, {
        Cmd: ["cat"],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: true,
      });
      await using session = await docker.exec.start(Id, { tty: true, worker });
      const writer = session.writable.getWriter();
      // Ctrl-D at the start of a line: the terminal's EOF, which cat sees.
      await writer.write(encoder.encode("hi\n\x04"));
      const decoder = new TextDecoder();
      let output = "";
      for await (const frame of session.readable) {
        output += decoder.decode(frame.data, { stream: true });
      }
      // The terminal's echo, then cat's copy; the output ends as cat exits.
      assert.equal(output, "hi\r\nhi\r\n");
      assert.equal(await exitCodeOf(docker, Id), 0);
      writer.releaseLock();
    });
  });
}
