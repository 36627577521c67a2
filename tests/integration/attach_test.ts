/**
 * `containers.attach`, `containers.attachWebSocket` and `containers.resize`
 * against the real test engine: byte-exact stdin round trips through `cat`
 * with and without a TTY, half-close, terminal size, WebSocket echo.
 */

import assert from "node:assert/strict";
import { DockerNotFoundError } from "../../mod.ts";
import { testDocker, text, uniqueName, withContainer } from "./_docker.ts";
import { concat } from "../_fake_engine.ts";
import { payload } from "../_helpers.ts";
import { abortAtSecondFrame, readUntil, readUntilText, writeAll } from "./_session.ts";

const encoder = new TextEncoder();

Deno.test("containers.attach round-trips stdin through cat byte-exact without a TTY; EOF ends cat, later output arrives", async () => {
  await using docker = testDocker();
  const body = {
    Cmd: ["sh", "-c", "cat; echo after-eof; echo err-after-eof >&2"],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
  };
  await withContainer(docker, body, async (id) => {
    await using session = await docker.containers.attach(id, { stdin: true });
    assert.equal(session.id, id);
    await docker.containers.start(id);
    const input = payload(1 << 20);
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    const reading = (async () => {
      for await (const frame of session.readable) {
        (frame.stream === "stderr" ? stderr : stdout).push(frame.data.slice());
      }
    })();
    const writer = await writeAll(session, input);
    await writer.close(); // half-close: cat sees EOF, output keeps flowing
    await reading;
    const expected = concat([input, encoder.encode("after-eof\n")]);
    const got = concat(stdout);
    assert.equal(got.length, expected.length);
    assert.ok(got.every((byte, i) => byte === expected[i]), "stdout differs from stdin");
    assert.equal(text(concat(stderr)), "err-after-eof\n");
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
  });
});

Deno.test("containers.attach round-trips raw bytes through a TTY (stty raw -echo)", async () => {
  await using docker = testDocker();
  const input = payload(1 << 20);
  const script = `stty raw -echo -iexten; printf READY; head -c ${input.length}; printf DONE`;
  await withContainer(docker, {
    Cmd: ["sh", "-c", script],
    Tty: true,
    OpenStdin: true,
    StdinOnce: true,
  }, async (id) => {
    // An unusual detach sequence: the engine only checks it on 1-byte reads, but be sure.
    await using session = await docker.containers.attach(id, {
      stdin: true,
      detachKeys: "ctrl-x,ctrl-y,ctrl-z,ctrl-x,ctrl-y,ctrl-z",
    });
    await docker.containers.start(id);
    const reader = session.readable.getReader();
    const ready = await readUntil(reader, (out) => text(out).includes("READY"));
    assert.equal(text(ready), "READY"); // no echo, nothing before
    const rest: Uint8Array[] = [];
    const reading = (async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        assert.equal(value.stream, "stdout");
        rest.push(value.data.slice());
      }
    })();
    const writer = await writeAll(session, input);
    await reading; // head exits after the last byte; the session ends with the container
    writer.releaseLock();
    const got = concat(rest);
    const expected = concat([input, encoder.encode("DONE")]);
    assert.equal(got.length, expected.length);
    assert.ok(got.every((byte, i) => byte === expected[i]), "TTY output differs from input");
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
  });
});

Deno.test("containers.resize of a TTY is seen by stty size inside the container", async () => {
  await using docker = testDocker();
  const body = { Cmd: ["sh", "-c", "stty size; read line; stty size"], Tty: true, OpenStdin: true };
  await withContainer(docker, body, async (id) => {
    await using session = await docker.containers.attach(id, { stdin: true });
    await docker.containers.start(id);
    const reader = session.readable.getReader();
    await readUntil(reader, (out) => text(out).includes("\n"));
    await session.resize(33, 111);
    await docker.containers.resize(id, { h: 34, w: 112 });
    const writer = session.writable.getWriter();
    await writer.write(encoder.encode("\n"));
    writer.releaseLock();
    const output = text(await readUntil(reader, (out) => text(out).includes("34 112")));
    assert.match(output, /34 112/);
  });
});

Deno.test("containers.attach asks the engine for the TTY mode when not given, and replays logs", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["sh", "-c", "echo tty-line"], Tty: true }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    // logs without stream: the engine replays what was logged, then ends.
    await using session = await docker.containers.attach(id, { logs: true, stream: false });
    const chunks: string[] = [];
    for await (const frame of session.readable) {
      assert.equal(frame.stream, "stdout");
      chunks.push(text(frame.data));
    }
    assert.equal(chunks.join(""), "tty-line\r\n");
  });
});

Deno.test("containers.attach: a signal abort closes the session and fails its reads and writes with signal.reason", async () => {
  await using docker = testDocker();
  const body = { Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"], OpenStdin: true };
  await withContainer(docker, body, async (id) => {
    const controller = new AbortController();
    await using session = await docker.containers.attach(id, {
      stdin: true,
      signal: controller.signal,
    });
    await docker.containers.start(id);
    await abortAtSecondFrame(session, controller);
  });
});

Deno.test("containers.attachWebSocket sends text and bytes to cat and reads the echo; closing writable is EOF", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["cat"], OpenStdin: true, StdinOnce: true }, async (id) => {
    await using ws = await docker.containers.attachWebSocket(id, { stream: true });
    await docker.containers.start(id);
    const writer = ws.writable.getWriter();
    const reader = ws.readable.getReader();
    await writer.write("hello websocket\n");
    assert.equal(await readUntilText(reader, "hello websocket\n"), "hello websocket\n");
    await writer.write(encoder.encode("bytes too\n"));
    assert.equal(await readUntilText(reader, "bytes too\n"), "bytes too\n");
    // A close frame is end of stdin: cat exits and the engine ends the session.
    await writer.close();
    assert.deepEqual(await reader.read(), { done: true, value: undefined });
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
  });
});

Deno.test("containers.attachWebSocket: a signal abort closes the session and fails its reads and writes with signal.reason; close() ends it quietly", async () => {
  await using docker = testDocker();
  const body = { Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"], OpenStdin: true };
  await withContainer(docker, body, async (id) => {
    await docker.containers.start(id);
    const controller = new AbortController();
    await using ws = await docker.containers.attachWebSocket(id, { signal: controller.signal });
    let messages = 0;
    const reading = (async () => {
      for await (const _ of ws.readable) {
        if (++messages === 2) controller.abort(new Error("user abort"));
      }
    })();
    await assert.rejects(reading, (error) => error === controller.signal.reason);
    assert.equal(messages, 2);
    await assert.rejects(
      ws.writable.getWriter().write("late\n"),
      (error) => error === controller.signal.reason,
    );

    // close() ends the output quietly, also when the signal aborts after it.
    const later = new AbortController();
    const quiet = await docker.containers.attachWebSocket(id, { signal: later.signal });
    const reader = quiet.readable.getReader();
    await readUntilText(reader, "tick\n");
    const pending = reader.read();
    const closing = quiet.close();
    later.abort(new Error("after close"));
    await closing;
    // A message that was on its way may still come first.
    let next = await pending;
    while (!next.done) next = await reader.read();
    await assert.rejects(quiet.writable.getWriter().write("late\n"), /WebSocket session is closed/);
    const reason = new Error("not now");
    await assert.rejects(
      () => docker.containers.attachWebSocket(id, { signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
  });
});

Deno.test("containers.attach and attachWebSocket reject a missing container with DockerNotFoundError", async () => {
  await using docker = testDocker();
  const missing = uniqueName("missing");
  await assert.rejects(() => docker.containers.attach(missing), DockerNotFoundError);
  await assert.rejects(() => docker.containers.attach(missing, { tty: true }), DockerNotFoundError);
  await assert.rejects(() => docker.containers.attachWebSocket(missing), DockerNotFoundError);
  await assert.rejects(async () => await docker.containers.attach(""), TypeError);
  await assert.rejects(async () => await docker.containers.attachWebSocket(""), TypeError);
});
