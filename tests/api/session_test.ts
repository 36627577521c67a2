/**
 * Hijacked sessions on this thread (`containers.attach`), against a fake
 * engine that switches protocols: the ways a session ends early.
 */

import assert from "node:assert/strict";
import { Docker, type DockerCallEvent, DockerConnectionError } from "../../mod.ts";
import { type FakeConnection, sleep, startFakeEngine, waitFor } from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const SWITCH = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n" +
  "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

/** An engine that upgrades the attach, then hands the connection to `then`. */
function upgrading(then: (connection: FakeConnection) => Promise<void>) {
  return startFakeEngine(async (connection) => {
    if (!await connection.readRequest()) return;
    await connection.write(SWITCH);
    await then(connection);
  });
}

Deno.test("attach session: cancelling the output closes the socket", async () => {
  let closed = false;
  await using engine = await upgrading(async (connection) => {
    await connection.write("hello");
    closed = await connection.waitForClientClose();
  });
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
  const session = await docker.containers.attach("web", { tty: true, worker: false });
  const reader = session.readable.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value?.data), "hello");
  await reader.cancel();
  await waitFor(() => closed);
});

Deno.test("attach session: aborting stdin closes the socket", async () => {
  let closed = false;
  await using engine = await upgrading(async (connection) => {
    closed = await connection.waitForClientClose();
  });
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
  const session = await docker.containers.attach("web", {
    tty: true,
    stdin: true,
    worker: false,
  });
  await session.writable.getWriter().abort(new Error("no more input"));
  await waitFor(() => closed);
  // The output ends with the socket.
  const { done } = await session.readable.getReader().read();
  assert.equal(done, true);
});

Deno.test("attach session: stdin takes Uint8Array chunks only", async () => {
  await using engine = await upgrading(async (connection) => {
    await connection.waitForClientClose();
  });
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
  await using session = await docker.containers.attach("web", {
    tty: true,
    stdin: true,
    worker: false,
  });
  const writer = session.writable.getWriter() as WritableStreamDefaultWriter<unknown>;
  const error = await rejection(writer.write("text"));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /Uint8Array/);
});

Deno.test("attach session: a reset mid-session fails the output with DockerConnectionError, closes and records the call", async () => {
  const calls: DockerCallEvent[] = [];
  await using engine = await upgrading(async (connection) => {
    // Closing with the client's bytes unread makes the kernel reset the
    // connection (a Unix socket's ECONNRESET).
    await sleep(200);
    connection.close();
  });
  await using docker = new Docker({
    host: engine.host,
    apiVersion: "1.41",
    observer: (call) => calls.push(call),
  });
  const session = await docker.containers.attach("web", {
    tty: true,
    stdin: true,
    worker: false,
  });
  const writer = session.writable.getWriter();
  await writer.write(new Uint8Array(1000));
  const error = await rejection(session.readable.getReader().read());
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.match(error.message, /^Attached session with the engine at unix:\/\/.* broke: /);
  // The broken socket was closed, so the attach call is on record.
  const attach = calls.find((call) => call.path.includes("/attach"));
  assert.ok(attach, JSON.stringify(calls.map((call) => call.path)));
  assert.equal(attach.status, 101);
  assert.equal(attach.bytesSent > 1000, true);
  writer.releaseLock();
  session.close();
});
