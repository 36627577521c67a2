/**
 * Aborting the signal of a hijacked session (`containers.attach`,
 * `exec.start`), on this thread and in a stream worker, against a fake
 * engine that switches protocols: reads and writes reject with
 * `signal.reason` and the socket closes, as for every other stream; the
 * session's own `close()` and the output's end stay quiet.
 */

import assert from "node:assert/strict";
import { Docker, type Frame, type HijackedSession } from "../../mod.ts";
import {
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
  }
}
