/**
 * Chaos tests of the stream and session layers on this thread: seeded
 * scenarios in which the engine and the consumer fail at random points
 * (see `_chaos_streams.ts` and `_chaos_sessions.ts` for what they do and
 * the invariants they check), and the regressions they found.
 *
 * A failure names its seed and scenario: rerun it alone with
 * `BERTH_FUZZ_SEED=<seed> BERTH_CHAOS_CASE=<n>`; `BERTH_FUZZ_CASES=10` runs
 * ten times as many.
 */

import assert from "node:assert/strict";
import { Docker } from "../../src/docker.ts";
import { DockerError, DockerProtocolError } from "../../src/errors.ts";
import type { Frame } from "../../src/stream/demux.ts";
import { fuzzCases } from "../_fuzz.ts";
import {
  concat,
  type FakeConnection,
  frame,
  sleep,
  startFakeEngine,
  waitFor,
  withDeadline,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";
import { chaos, RAW } from "./_chaos.ts";
import { sessionScenario } from "./_chaos_sessions.ts";
import { backpressureScenario, streamScenario } from "./_chaos_streams.ts";

Deno.test("chaos: logs, events and pull streams survive engine and consumer failures at random points", async () => {
  await chaos(
    "stream chaos",
    0xc4a05,
    fuzzCases(150),
    (random, trace) => streamScenario(random, trace, false),
  );
});

Deno.test("chaos: attach and exec sessions survive half-close, engine closes, aborts and disposal at random points", async () => {
  await chaos(
    "session chaos",
    0x5e55,
    fuzzCases(120),
    (random, trace) => sessionScenario(random, trace, false),
  );
});

Deno.test("chaos: a slow consumer stalls the engine's writes instead of buffering", async () => {
  await chaos("backpressure chaos", 0xb9, fuzzCases(12), async (random, trace) => {
    await backpressureScenario(random, trace, false, 1 << 20);
  });
});

// ---------------------------------------------------------------------------
// Regressions the chaos tests found
// ---------------------------------------------------------------------------

const MULTIPLEXED_SWITCH = "HTTP/1.1 101 UPGRADED\r\n" +
  "Content-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
const RAW_SWITCH =
  `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${RAW}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;

/** An engine that reads one request, sends `answer`, then reports when the client closes. */
async function answering(answer: string | Uint8Array) {
  const closed = Promise.withResolvers<void>();
  const engine = await startFakeEngine(async (connection) => {
    if (!await connection.readRequest()) return;
    if (answer.length > 0) await connection.write(answer);
    await connection.waitForClientClose();
    closed.resolve();
  });
  return { engine, closed: closed.promise };
}

Deno.test("ApiClient.stream: a cancel before the response head closes the connection at once", async (t) => {
  for (const what of ["events", "pull"] as const) {
    await t.step(what, async () => {
      // The engine never answers (before the fix the cancel waited for a head).
      const { engine, closed } = await answering("");
      await using _ = engine;
      await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      if (what === "events") {
        const reader = docker.system.events().getReader();
        const read = reader.read();
        await sleep(10);
        await withDeadline(reader.cancel(), 500, "cancel()");
        assert.deepEqual(await read, { done: true, value: undefined });
      } else {
        const pull = docker.images.pull("busybox:latest");
        await sleep(10);
        await withDeadline(pull.cancel(), 500, "cancel()");
        assert.ok((await rejection(Promise.resolve(pull))) instanceof DockerError);
      }
      await withDeadline(closed, 500, "the engine seeing the close");
    });
  }
});

for (const worker of [false, true]) {
  const where = worker ? "in a worker" : "on this thread";

  Deno.test(`Exec.start ${where}: an abort after the session opened closes it and fails the read with its reason`, async () => {
    const { engine, closed } = await answering(concat([
      new TextEncoder().encode(MULTIPLEXED_SWITCH),
      frame(1, "hello"),
    ]));
    await using _ = engine;
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    const abort = new AbortController();
    const session = await docker.exec.start("ex1", { signal: abort.signal, worker });
    const reader = session.readable.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value?.data), "hello");
    const next = reader.read();
    const reason = new Error("stop");
    abort.abort(reason);
    // As for an attach and every stream: the read fails with the reason, the socket closes.
    assert.equal(await withDeadline(rejection(next), 500, "the read"), reason);
    await withDeadline(closed, 500, "the engine seeing the close");
  });

  Deno.test(`hijacked session ${where}: frames read with a bad header come first, then INVALID_FRAME, and the socket closes`, async () => {
    // The two frames and the bad header arrive in one read.
    const { engine, closed } = await answering(concat([
      new TextEncoder().encode(MULTIPLEXED_SWITCH),
      frame(1, "out"),
      frame(2, "err"),
      new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 65]),
    ]));
    await using _ = engine;
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    const session = await docker.containers.attach("web", { tty: false, worker });
    const frames: Frame[] = [];
    const reader = session.readable.getReader();
    let error: unknown;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        frames.push(value);
      }
    } catch (caught) {
      error = caught;
    }
    assert.deepEqual(
      frames.map((f) => `${f.stream}:${new TextDecoder().decode(f.data)}`),
      ["stdout:out", "stderr:err"],
    );
    assert.ok(
      error instanceof DockerProtocolError && error.code === "INVALID_FRAME",
      String(error),
    );
    // Closed without the caller's close().
    await withDeadline(closed, 500, "the engine seeing the close");
    session.close();
  });

  Deno.test(`hijacked session ${where}: closeWrite() during a stdin write sends EOF after it`, async () => {
    let received = 0;
    let ended = false;
    await using engine = await startFakeEngine(async (connection: FakeConnection) => {
      if (!await connection.readRequest()) return;
      await connection.write(RAW_SWITCH);
      await sleep(20); // The write fills the socket buffer and waits.
      for (let bytes; (bytes = await connection.readSome()) !== null;) received += bytes.length;
      ended = true;
      await connection.write("bye");
    });
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
    await using session = await docker.containers.attach("web", { stdin: true, tty: true, worker });
    const writer = session.writable.getWriter();
    const write = writer.write(new Uint8Array(4 << 20));
    await sleep(5);
    await session.closeWrite();
    await write;
    const output: Uint8Array[] = [];
    for await (const item of session.readable) output.push(item.data);
    await waitFor(() => ended);
    assert.equal(received, 4 << 20);
    assert.equal(new TextDecoder().decode(concat(output)), "bye");
  });
}
