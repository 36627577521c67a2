/**
 * `containers.attach` with the session in a stream worker, against the real
 * test engine: byte-exact stdin round trips through `cat` with and without
 * a TTY, half-close, `close()`, abort, resize, `containers.run`, errors.
 * The same checks as `attach_test.ts` (the session on this thread), so the
 * two modes are held to the same results.
 *
 * Lifecycle tests use a client assembled as `Docker` wires it, to see the
 * worker pool count the session in and out.
 */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Containers } from "../../src/api/containers.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import { WorkerPool } from "../../src/worker/pool.ts";
import { DockerNotFoundError } from "../../mod.ts";
import {
  TEST_LABELS,
  testDocker,
  testEnv,
  testImage,
  text,
  uniqueName,
  withContainer,
} from "./_docker.ts";
import { concat } from "../_fake_engine.ts";
import { payload } from "../_helpers.ts";
import { abortAtSecondFrame, readUntil, readUntilText, writeAll } from "./_session.ts";

const encoder = new TextEncoder();

/** `containers` on a client whose streams run in workers, with the pool in view. */
function workerContainers() {
  const host = testEnv().host;
  const address = parseHost(host);
  const http = new HttpClient({
    connect: createConnector(address, 30_000),
    host,
    hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
  });
  const pool = new WorkerPool({ size: 1, host });
  const api = new ApiClient(http, { workers: pool, workersByDefault: true });
  const close = () => {
    pool.close();
    http.close();
  };
  return { containers: new Containers(api), pool, close, [Symbol.dispose]: close };
}

Deno.test("workers: containers.attach round-trips stdin through cat byte-exact without a TTY; EOF ends cat, later output arrives", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
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

Deno.test("workers: containers.attach round-trips raw bytes through a TTY (stty raw -echo)", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  const input = payload(1 << 20);
  const script = `stty raw -echo -iexten; printf READY; head -c ${input.length}; printf DONE`;
  await withContainer(docker, {
    Cmd: ["sh", "-c", script],
    Tty: true,
    OpenStdin: true,
    StdinOnce: true,
  }, async (id) => {
    // No `tty` option: the lookup runs on this thread, the decoding in the worker.
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

Deno.test("workers: containers.attach closeWrite() makes cat exit and the output end", async () => {
  using client = workerContainers();
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["cat"], OpenStdin: true, StdinOnce: true }, async (id) => {
    const session = await client.containers.attach(id, { stdin: true });
    assert.equal(client.pool.streams, 1);
    await docker.containers.start(id);
    const reader = session.readable.getReader();
    const writer = session.writable.getWriter();
    await writer.write(encoder.encode("hello worker\n"));
    writer.releaseLock();
    const echoed = await readUntil(reader, (out) => text(out).includes("\n"));
    assert.equal(text(echoed), "hello worker\n");
    await session.closeWrite();
    assert.deepEqual(await reader.read(), { done: true, value: undefined });
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
    assert.equal(client.pool.streams, 0);
    await session[Symbol.asyncDispose]();
  });
});

Deno.test("workers: containers.attach close() ends the output; resize of a TTY works from this thread", async () => {
  using client = workerContainers();
  await using docker = testDocker();
  const body = { Cmd: ["sh", "-c", "stty size; read line; stty size; sleep 60"], Tty: true };
  await withContainer(docker, { ...body, OpenStdin: true }, async (id) => {
    const session = await client.containers.attach(id, { stdin: true });
    await docker.containers.start(id);
    const reader = session.readable.getReader();
    await readUntil(reader, (out) => text(out).includes("\n"));
    await session.resize(34, 112);
    const writer = session.writable.getWriter();
    await writer.write(encoder.encode("\n"));
    const output = text(await readUntil(reader, (out) => text(out).includes("34 112")));
    assert.match(output, /34 112/);
    const pending = reader.read();
    session.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await assert.rejects(() => writer.write(encoder.encode("late\n")), /session is closed/);
    await session[Symbol.asyncDispose]();
    assert.equal(client.pool.streams, 0);
  });
});

Deno.test("workers: containers.attach: a signal abort closes the session and fails its reads and writes with signal.reason; an aborted signal attaches nothing", async () => {
  using client = workerContainers();
  await using docker = testDocker();
  const body = { Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"], OpenStdin: true };
  await withContainer(docker, body, async (id) => {
    const controller = new AbortController();
    await using session = await client.containers.attach(id, {
      stdin: true,
      signal: controller.signal,
    });
    await docker.containers.start(id);
    await abortAtSecondFrame(session, controller);
    await session[Symbol.asyncDispose](); // resolves once it has
    assert.equal(client.pool.streams, 0);
    const reason = new Error("not now");
    await assert.rejects(
      () => client.containers.attach(id, { signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
  });
});

Deno.test("workers: containers.run collects output through an attach in a worker", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  const result = await docker.containers.run({
    Image: testImage(),
    Cmd: ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' 'y'; echo err >&2"],
    Labels: TEST_LABELS,
  }, { remove: true });
  assert.equal(result.exitCode, 0);
  assert.equal(result.stdout.length, 300000);
  assert.ok(result.stdout.every((byte) => byte === 121));
  assert.equal(text(result.stderr), "err\n");
});

Deno.test("workers: containers.attach rejects a missing container with DockerNotFoundError", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  const missing = uniqueName("missing");
  await assert.rejects(() => docker.containers.attach(missing), DockerNotFoundError);
  await assert.rejects(() => docker.containers.attach(missing, { tty: true }), DockerNotFoundError);
  await assert.rejects(async () => await docker.containers.attach(""), TypeError);
});

Deno.test("workers: containers.attachWebSocket sends text and bytes to cat and reads the echo; closing writable is EOF", async () => {
  using client = workerContainers();
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["cat"], OpenStdin: true, StdinOnce: true }, async (id) => {
    const ws = await client.containers.attachWebSocket(id, { stream: true });
    assert.equal(client.pool.streams, 1, "the WebSocket runs in the worker");
    await docker.containers.start(id);
    const writer = ws.writable.getWriter();
    const reader = ws.readable.getReader();
    await writer.write("hello websocket\n");
    assert.equal(await readUntilText(reader, "hello websocket\n"), "hello websocket\n");
    const bytes = payload(200_000); // Several WebSocket frames and reads.
    const echoed = (async () => {
      const got: Uint8Array[] = [];
      let length = 0;
      while (length < bytes.length) {
        const { value, done } = await reader.read();
        if (done) break;
        got.push(value);
        length += value.length;
      }
      return concat(got);
    })();
    await writer.write(bytes);
    assert.deepEqual(await echoed, bytes);
    // A close frame is end of stdin: cat exits and the engine ends the session.
    await writer.close();
    assert.deepEqual(await reader.read(), { done: true, value: undefined });
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
    await ws.close();
    assert.equal(client.pool.streams, 0);
  });
});

Deno.test("workers: containers.attachWebSocket close() ends quietly; a signal abort fails reads and writes with signal.reason; a missing container", async () => {
  using client = workerContainers();
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["sleep", "60"], OpenStdin: true }, async (id) => {
    await docker.containers.start(id);
    const ws = await client.containers.attachWebSocket(id);
    const reader = ws.readable.getReader();
    const pending = reader.read();
    await ws.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await assert.rejects(
      () => ws.writable.getWriter().write("late\n"),
      /WebSocket session is closed/,
    );
    assert.equal(client.pool.streams, 0);

    const controller = new AbortController();
    const aborted = await client.containers.attachWebSocket(id, { signal: controller.signal });
    const reading = (async () => {
      for await (const _ of aborted.readable) { /* nothing is printed */ }
    })();
    controller.abort(new Error("user abort"));
    // Rejects at once; the worker closes the connection.
    await assert.rejects(reading, (error) => error === controller.signal.reason);
    await assert.rejects(
      aborted.writable.getWriter().write("late\n"),
      (error) => error === controller.signal.reason,
    );
    await aborted[Symbol.asyncDispose](); // resolves once it has
    assert.equal(client.pool.streams, 0);
    const reason = new Error("not now");
    await assert.rejects(
      () => client.containers.attachWebSocket(id, { signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
  });
  await assert.rejects(
    () => client.containers.attachWebSocket(uniqueName("missing")),
    DockerNotFoundError,
  );
  assert.equal(client.pool.streams, 0);
});
