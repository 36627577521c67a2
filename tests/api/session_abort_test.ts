/**
 * Aborting the signal of a hijacked session (`containers.attach`,
 * `exec.start`) or a WebSocket attach (`containers.attachWebSocket`), on
 * this thread and in a stream worker, against a fake engine that switches
 * protocols: reads and writes reject with `signal.reason` and the socket
 * closes, as for every other stream; the session's own `close()`,
 * cancelling its output and the output's end stay quiet.
 */

import assert from "node:assert/strict";
import {
  Docker,
  DockerConnectionError,
  DockerError,
  type Frame,
  type HijackedSession,
} from "../../mod.ts";
import {
  concat,
  type FakeConnection,
  frame,
  startFakeEngine,
  waitFor,
  withDeadline,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const SWITCH = "HTTP/1.1 101 UPGRADED\r\n" +
  "Content-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An engine that switches protocols for an attach or exec start, then hands over the connection. */
function sessionEngine(then: (connection: FakeConnection) => Promise<void>) {
  return startFakeEngine(async (connection) => {
    const request = await connection.readRequest();
    if (!request) return;
    assert.match(request.target, /\/(containers\/web\/attach|exec\/ex1\/start)\b/);
    await connection.write(SWITCH);
    await then(connection);
  });
}

type Api = "containers.attach" | "exec.start";

/** Opens the session the way `api` does, with `signal`. */
function open(
  docker: Docker,
  api: Api,
  worker: boolean,
  signal: AbortSignal,
): Promise<HijackedSession> {
  return api === "containers.attach"
    ? docker.containers.attach("web", { stdin: true, tty: false, worker, signal })
    : docker.exec.start("ex1", { worker, signal });
}

for (const api of ["containers.attach", "exec.start"] as const) {
  for (const worker of [false, true]) {
    const where = worker ? "in a worker" : "on this thread";

    Deno.test(`${api} ${where}: an abort fails the waiting read, later reads and writes with signal.reason, and closes the socket`, async () => {
      let closed = false;
      await using engine = await sessionEngine(async (connection) => {
        await connection.write(frame(1, "hello"));
        closed = await connection.waitForClientClose();
      });
      await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      const controller = new AbortController();
      const session = await open(docker, api, worker, controller.signal);
      const reader = session.readable.getReader();
      assert.equal(decoder.decode((await reader.read()).value?.data), "hello");
      const waiting = reader.read();
      const reason = new Error("user abort");
      controller.abort(reason);
      assert.equal(await withDeadline(rejection(waiting), 2000, "the waiting read"), reason);
      assert.equal(await rejection(reader.read()), reason);
      const writer = session.writable.getWriter();
      assert.equal(await rejection(writer.write(encoder.encode("late"))), reason);
      assert.equal(await rejection(writer.closed), reason);
      await waitFor(() => closed);
      // Closing and disposing of an aborted session are quiet.
      session.close();
      await session[Symbol.asyncDispose]();
    });

    Deno.test(`${api} ${where}: an abort between reads fails the next one (received output is dropped), and a write in flight`, async () => {
      let closed = false;
      const sent = Promise.withResolvers<void>();
      await using engine = await sessionEngine(async (connection) => {
        await connection.write(frame(1, "one"));
        await connection.write(frame(1, "two"));
        sent.resolve();
        // Stdin is not read: a large write stays in flight.
        closed = await new Promise<boolean>((resolve) => {
          const stop = () => resolve(connection.waitForClientClose());
          setTimeout(stop, 300);
        });
      });
      await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      const controller = new AbortController();
      const session = await open(docker, api, worker, controller.signal);
      await sent.promise;
      const writer = session.writable.getWriter();
      const inFlight = writer.write(new Uint8Array(16 << 20));
      inFlight.catch(() => {});
      const reason = new Error("user abort");
      controller.abort(reason);
      assert.equal(await rejection(session.readable.getReader().read()), reason);
      assert.equal(await withDeadline(rejection(inFlight), 2000, "the write in flight"), reason);
      await waitFor(() => closed);
      await session[Symbol.asyncDispose]();
    });

    Deno.test(`${api} ${where}: the output's end and close() stay quiet; a later abort changes nothing`, async () => {
      // The process ends: the output ends normally, also when the signal aborts after.
      await using ending = await sessionEngine(async (connection) => {
        await connection.write(frame(1, "bye"));
      });
      await using first = new Docker({ host: ending.host, apiVersion: "1.41" });
      const controller = new AbortController();
      const ended = await open(first, api, worker, controller.signal);
      const output: Frame[] = [];
      for await (const item of ended.readable) output.push(item);
      assert.deepEqual(output.map((item) => decoder.decode(item.data)), ["bye"]);
      controller.abort(new Error("too late"));
      assert.deepEqual(await ended.readable.getReader().read(), { done: true, value: undefined });
      await ended[Symbol.asyncDispose]();

      // close() by the consumer: the output ends quietly, an abort after it too.
      let closed = false;
      await using engine = await sessionEngine(async (connection) => {
        closed = await connection.waitForClientClose();
      });
      await using second = new Docker({ host: engine.host, apiVersion: "1.41" });
      const later = new AbortController();
      const session = await open(second, api, worker, later.signal);
      const reader = session.readable.getReader();
      const waiting = reader.read();
      session.close();
      later.abort(new Error("after close"));
      assert.deepEqual(await withDeadline(waiting, 2000, "the read after close()"), {
        done: true,
        value: undefined,
      });
      assert.deepEqual(await reader.read(), { done: true, value: undefined });
      await waitFor(() => closed);
      await session[Symbol.asyncDispose]();
    });

    Deno.test(`${api} ${where}: cancelling the output is quiet; a later abort changes nothing`, async () => {
      let closed = false;
      await using engine = await sessionEngine(async (connection) => {
        closed = await connection.waitForClientClose();
      });
      await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      const controller = new AbortController();
      const session = await open(docker, api, worker, controller.signal);
      const reader = session.readable.getReader();
      const waiting = reader.read();
      const cancelled = reader.cancel();
      const reason = new Error("after cancel");
      controller.abort(reason);
      assert.deepEqual(await withDeadline(waiting, 2000, "the read at the cancel"), {
        done: true,
        value: undefined,
      });
      await cancelled;
      // Stdin fails as on a closed session, not with the abort's reason.
      const error = await rejection(session.writable.getWriter().write(encoder.encode("late")));
      assert.ok(error instanceof DockerConnectionError, String(error));
      await waitFor(() => closed);
      await session[Symbol.asyncDispose]();
    });
  }
}

/** RFC 6455 §4.2.2: base64 SHA-1 of the key and the protocol's GUID. */
async function acceptOf(key: string): Promise<string> {
  const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + guid));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** A server's text message (unmasked, one frame). */
function textMessage(text: string): Uint8Array {
  const data = encoder.encode(text);
  assert.ok(data.length < 126);
  return new Uint8Array([0x81, data.length, ...data]);
}

/** A server's close frame with status 1000. */
const CLOSE_1000 = new Uint8Array([0x88, 2, 0x03, 0xe8]);

/** An engine that completes the WebSocket handshake of an attach, then hands over the connection. */
function webSocketEngine(then: (connection: FakeConnection) => Promise<void>) {
  return startFakeEngine(async (connection) => {
    const request = await connection.readRequest();
    if (!request) return;
    assert.match(request.target, /\/containers\/web\/attach\/ws\?/);
    const accept = await acceptOf(request.headers["sec-websocket-key"] ?? "");
    await connection.write(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    await then(connection);
  });
}

/** What a write to a session that ended or was closed rejects with: not an abort's reason. */
function assertClosedError(error: unknown): void {
  assert.ok(error instanceof DockerError, String(error));
  assert.match(error.message, /WebSocket session is closed/);
}

for (const worker of [false, true]) {
  const where = worker ? "in a worker" : "on this thread";

  Deno.test(`containers.attachWebSocket ${where}: an abort fails the waiting read, later reads and writes with signal.reason, and closes the socket`, async () => {
    let closed = false;
    await using engine = await webSocketEngine(async (connection) => {
      await connection.write(textMessage("hello"));
      closed = await connection.waitForClientClose();
    });
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    const controller = new AbortController();
    const ws = await docker.containers.attachWebSocket("web", {
      worker,
      signal: controller.signal,
    });
    const reader = ws.readable.getReader();
    assert.equal(decoder.decode((await reader.read()).value), "hello");
    const waiting = reader.read();
    const reason = new Error("user abort");
    controller.abort(reason);
    assert.equal(await withDeadline(rejection(waiting), 2000, "the waiting read"), reason);
    assert.equal(await rejection(reader.read()), reason);
    const writer = ws.writable.getWriter();
    assert.equal(await rejection(writer.write("late")), reason);
    assert.equal(await rejection(writer.closed), reason);
    await waitFor(() => closed);
    // Closing and disposing of an aborted session are quiet.
    await ws.close();
    await ws[Symbol.asyncDispose]();
  });

  Deno.test(`containers.attachWebSocket ${where}: an abort between reads fails the next one (received output is dropped), and a write in flight`, async () => {
    let closed = false;
    const sent = Promise.withResolvers<void>();
    await using engine = await webSocketEngine(async (connection) => {
      await connection.write(concat([textMessage("one"), textMessage("two")]));
      sent.resolve();
      // Stdin is not read: a large message stays in flight.
      closed = await new Promise<boolean>((resolve) => {
        const stop = () => resolve(connection.waitForClientClose());
        setTimeout(stop, 300);
      });
    });
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    const controller = new AbortController();
    const ws = await docker.containers.attachWebSocket("web", {
      worker,
      signal: controller.signal,
    });
    await sent.promise;
    const writer = ws.writable.getWriter();
    const inFlight = writer.write(new Uint8Array(16 << 20));
    inFlight.catch(() => {});
    const reason = new Error("user abort");
    controller.abort(reason);
    assert.equal(await rejection(ws.readable.getReader().read()), reason);
    assert.equal(await withDeadline(rejection(inFlight), 2000, "the write in flight"), reason);
    await waitFor(() => closed);
    await ws[Symbol.asyncDispose]();
  });

  Deno.test(`containers.attachWebSocket ${where}: the output's end, close() and cancelling readable stay quiet; a later abort changes nothing`, async () => {
    // The engine closes the WebSocket: the output ends normally, also when the signal aborts after.
    await using ending = await webSocketEngine(async (connection) => {
      await connection.write(concat([textMessage("bye"), CLOSE_1000]));
      await connection.waitForClientClose();
    });
    await using first = new Docker({ host: ending.host, apiVersion: "1.41" });
    const controller = new AbortController();
    const ended = await first.containers.attachWebSocket("web", {
      worker,
      signal: controller.signal,
    });
    const output: string[] = [];
    for await (const payload of ended.readable) output.push(decoder.decode(payload));
    assert.deepEqual(output, ["bye"]);
    controller.abort(new Error("too late"));
    assert.deepEqual(await ended.readable.getReader().read(), { done: true, value: undefined });
    assertClosedError(await rejection(ended.writable.getWriter().write("late")));
    await ended[Symbol.asyncDispose]();

    // close() by the consumer, and cancelling the output: it ends quietly, an abort after it too.
    for (const how of ["close()", "cancel"] as const) {
      let closed = false;
      await using engine = await webSocketEngine(async (connection) => {
        closed = await connection.waitForClientClose();
      });
      await using second = new Docker({ host: engine.host, apiVersion: "1.41" });
      const later = new AbortController();
      const ws = await second.containers.attachWebSocket("web", { worker, signal: later.signal });
      const reader = ws.readable.getReader();
      const waiting = reader.read();
      const closing = how === "close()" ? ws.close() : reader.cancel();
      later.abort(new Error(`after ${how}`));
      assert.deepEqual(await withDeadline(waiting, 2000, `the read after ${how}`), {
        done: true,
        value: undefined,
      });
      await closing;
      if (how === "close()") {
        assert.deepEqual(await reader.read(), { done: true, value: undefined });
      }
      assertClosedError(await rejection(ws.writable.getWriter().write("late")));
      await waitFor(() => closed);
      await ws[Symbol.asyncDispose]();
    }
  });

  Deno.test(`containers.attachWebSocket ${where}: an abort before the handshake completes rejects the call with signal.reason`, async () => {
    let requested = false;
    let closed = false;
    await using engine = await startFakeEngine(async (connection) => {
      if (!(await connection.readRequest())) return;
      requested = true;
      // No answer: the call waits for the switch until the abort.
      closed = await connection.waitForClientClose();
    });
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    const controller = new AbortController();
    const call = docker.containers.attachWebSocket("web", { worker, signal: controller.signal });
    // A worker's first start loads its module: give it time on a busy machine.
    await waitFor(() => requested, 10_000);
    const reason = new Error("user abort");
    controller.abort(reason);
    assert.equal(await withDeadline(rejection(call), 2000, "the call"), reason);
    await waitFor(() => closed);
    const early = new Error("not now");
    assert.equal(
      await rejection(docker.containers.attachWebSocket("web", {
        worker,
        signal: AbortSignal.abort(early),
      })),
      early,
    );
  });
}
