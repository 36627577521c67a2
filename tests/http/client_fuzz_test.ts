/**
 * Seeded fuzz tests of whole exchanges through `HttpClient` over an
 * in-memory connection (`_scripted_conn.ts`). Valid responses, split
 * anywhere, must be read back exactly, the connection reused only when it
 * may; damaged ones must be answered as the RFC 9112 reference in
 * `_reference.ts` reads them, with `DockerError` only, and a failed
 * connection never reused. A failure names the seed (`BERTH_FUZZ_SEED`),
 * the case and the input, so it reproduces; `BERTH_FUZZ_CASES` runs more
 * cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerConnectionError, DockerError, DockerProtocolError } from "../../src/errors.ts";
import { concat, withDeadline } from "../_fake_engine.ts";
import {
  cutsOf,
  cutUp,
  describeError,
  escaped,
  fuzzCase,
  fuzzCases,
  type Random,
  sameBytes,
} from "../_fuzz.ts";
import { damage, DEFAULT_LIMITS, generateResponse, NOT_OWS } from "./_fuzz_responses.ts";
import { bytesOf, joinFields, latin1, referenceExchange } from "./_reference.ts";
import {
  CASE_DEADLINE,
  checkNextRequest,
  difference,
  NEXT,
  READ_MODES,
  type Received,
  requestWhole,
  scriptedClient,
  ScriptedConn,
  type ScriptEnd,
} from "./_scripted_conn.ts";

Deno.test("HttpClient reads random valid responses split anywhere exactly and reuses the connection only when it may", async () => {
  const name = "HttpClient valid";
  for (let index = 0; index < fuzzCases(1000); index++) {
    const { random, label } = fuzzCase(5, index, name);
    const generated = generateResponse(random);
    // Exactly the largest head now and then (the `next` response needs 38 bytes, 1 field).
    const limits = random.next() < 0.2
      ? {
        maxHeaderSize: Math.max(generated.largestHead, 38),
        maxHeaderCount: Math.max(generated.mostFields, 1),
      }
      : {
        maxHeaderSize: Math.max(DEFAULT_LIMITS.maxHeaderSize, generated.largestHead),
        maxHeaderCount: Math.max(DEFAULT_LIMITS.maxHeaderCount, generated.mostFields),
      };
    const pieces = cutUp(random, generated.wire);
    // POST answers are read like GET's; it only may not be replayed.
    const method = generated.method === "GET" && random.next() < 0.1 ? "POST" : generated.method;
    const roll = random.next();
    const mode = roll < 0.12 ? "cancel" : roll < 0.24 ? "abort" : random.pick(READ_MODES);
    const where = `${label}: ${method} (${mode}) answered ${escaped(generated.wire)} cut at ${
      cutsOf(pieces)
    }`;
    const want = referenceExchange(generated.wire, generated.method, limits);
    assert.ok(
      want.ok,
      `${where}: the reference rejects a generated response: ${"why" in want ? want.why : ""}`,
    );
    assert.equal(
      difference(want, { ...generated, fields: joinFields(generated.fields) }),
      undefined,
      where,
    );
    const first = new ScriptedConn(generated.keepAlive ? [pieces, [NEXT]] : [pieces]);
    const scripted = scriptedClient(first, limits);
    try {
      await withDeadline(
        (async () => {
          if (mode === "cancel") {
            // Read at most one batch, then cancel: the connection goes
            // back only if the whole response was off the wire already.
            const response = await scripted.client.request({ method, target: "/fuzz" });
            const batch = await response.readBatch();
            if (batch !== null) {
              const part = concat(batch);
              assert.ok(
                sameBytes(part, generated.body.subarray(0, part.length)),
                `${where}: first batch`,
              );
            }
            const finished = response.finished;
            response.cancel(new Error("fuzz cancel"));
            await checkNextRequest(
              scripted,
              finished && generated.keepAlive,
              `${where} (cancelled)`,
            );
            return;
          }
          if (mode === "abort") {
            // Abort after some read: the call either had its whole
            // response already, or fails with the reason and drops the
            // connection.
            const controller = new AbortController();
            const reason = new Error("fuzz abort");
            const after = 1 + random.int(pieces.length + 1);
            let reads = 0;
            first.onServe = () => {
              if (++reads === after) queueMicrotask(() => controller.abort(reason));
            };
            let got: Received | undefined;
            try {
              got = await requestWhole(
                scripted.client,
                method,
                random.pick(READ_MODES),
                controller.signal,
              );
            } catch (error) {
              assert.equal(error, reason, `${where}: aborted after ${after} reads`);
            }
            first.onServe = undefined;
            if (got !== undefined) assert.equal(difference(got, want), undefined, where);
            // An abort that lands between a read and the exchange taking it
            // up is lost when that read held the head: the call resolves,
            // but the connection is closed all the same. So the connection
            // goes back to the pool only after a whole response, never after
            // a failure.
            const reused = !first.closed;
            assert.ok(
              !reused || (got !== undefined && generated.keepAlive),
              `${where}: connection kept after an aborted call`,
            );
            await checkNextRequest(scripted, reused, `${where} (aborted after ${after} reads)`);
            return;
          }
          const got = await requestWhole(scripted.client, method, mode);
          assert.equal(difference(got, want), undefined, where);
          await checkNextRequest(scripted, generated.keepAlive, where);
        })(),
        CASE_DEADLINE,
        where,
      );
    } finally {
      scripted.client.close();
    }
  }
});

/**
 * Runs one damaged response through the client and checks it against the
 * reference: on a new or a reused (pooled) connection, followed by the end
 * of the stream, a reset, or a stall. A client waiting in a stall is
 * aborted, which must be allowed only when the bytes say it has to wait
 * (or have gone wrong already). An empty answer on a reused connection is
 * a stale connection: replayed on a new one (GET, HEAD), else a
 * `DockerConnectionError` (POST).
 */
async function runDamagedCase(random: Random, label: string): Promise<void> {
  // Bodies up to 20 KiB: past one 16 KiB read, and `mutate` copies them whole.
  const generated = generateResponse(random, 20_000);
  const limits = random.next() < 0.5 ? DEFAULT_LIMITS : {
    maxHeaderSize: 64 + random.int(2048),
    maxHeaderCount: 1 + random.int(24),
  };
  const [wire, how] = damage(random, generated, limits);
  const pieces = cutUp(random, wire);
  const method = generated.method === "GET" && random.next() < 0.15 ? "POST" : generated.method;
  const roll = random.next();
  const end: ScriptEnd = roll < 0.55 ? "eof" : roll < 0.85 ? "stall" : "reset";
  const reuse = random.next() < 0.3;
  const mode = random.pick(READ_MODES);
  const where = `${label}: ${how}, ${method} (${mode}) on a ${
    reuse ? "reused" : "new"
  } connection, limits ${limits.maxHeaderSize}/${limits.maxHeaderCount}, then ${end}: ${
    escaped(wire)
  } cut at ${cutsOf(pieces)}`;
  const stale = reuse && wire.length === 0 && end !== "stall";
  const want = stale && method !== "POST"
    ? referenceExchange(NEXT, method, limits)
    : referenceExchange(wire, method, limits);
  const first = new ScriptedConn([
    ...(reuse ? [[NEXT]] : []),
    pieces,
    ...(end === "stall" ? [[NEXT]] : []),
  ], end);
  const scripted = scriptedClient(first, limits);
  const controller = new AbortController();
  const stallReason = new Error("fuzz: the client waits for more bytes");
  let stalled = false;
  try {
    await withDeadline(
      (async () => {
        if (reuse) {
          const warm = await scripted.client.request({ method: "GET", target: "/warm" });
          assert.equal(latin1(await warm.bytes()), "next", where);
        }
        first.onStall = () => {
          stalled = true;
          controller.abort(stallReason);
        };
        let got: Received | undefined;
        let failure: unknown;
        try {
          got = await requestWhole(scripted.client, method, mode, controller.signal);
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          failure = error;
        }
        first.onStall = undefined;
        const verdict = want.ok
          ? `reference reads status ${want.status}, ${want.body.length} body bytes${
            want.untilEof ? " (to the end of the stream)" : ""
          }`
          : `reference rejects: ${want.why}${want.untilEof ? " (at the end of the stream)" : ""}`;
        if (stalled) {
          assert.equal(
            failure,
            stallReason,
            `${where}: after the abort: ${describeError(failure)}`,
          );
          assert.ok(!want.ok || want.untilEof, `${where}: the client waited, but the ${verdict}`);
        } else if (got !== undefined) {
          assert.ok(
            want.ok && !(end !== "eof" && want.untilEof),
            `${where}: the client read status ${got.status}, but the ${verdict}`,
          );
          assert.equal(difference(got, want), undefined, `${where}: ${verdict}`);
        } else {
          assert.ok(
            failure instanceof DockerProtocolError || failure instanceof DockerConnectionError,
            `${where}: threw ${describeError(failure)}`,
          );
          assert.ok(failure instanceof DockerError);
          assert.ok(
            !want.ok || (end === "reset" && want.untilEof),
            `${where}: threw ${describeError(failure)}, but the ${verdict}`,
          );
          if (stale) {
            assert.ok(
              failure instanceof DockerConnectionError,
              `${where}: ${describeError(failure)}`,
            );
          }
        }
        if (stale && method !== "POST") {
          // Replayed on a new connection, which answered `next`.
          assert.equal(scripted.conns.length, 2, `${where}: connections opened`);
          assert.ok(first.closed, `${where}: the stale connection is still open`);
          return;
        }
        if (got === undefined) {
          // A failed exchange closes its connection and never reuses it.
          assert.ok(first.closed, `${where}: the failed connection is still open`);
          await checkNextRequest(scripted, false, `${where}: after the failure`, reuse ? 1 : 0);
          return;
        }
        // After a good response, a later request still works; the first
        // connection may go back to the pool, unless it had bytes beyond
        // the response (the engine's fault: anything may happen then).
        if (want.ok && want.end < wire.length) return;
        const next = await scripted.client.request({ method: "GET", target: "/next" });
        assert.equal(latin1(await next.bytes()), "next", where);
      })(),
      CASE_DEADLINE,
      where,
    );
  } finally {
    scripted.client.close();
  }
}

Deno.test("HttpClient answers damaged responses as the reference does, with DockerError only, and never reuses a failed connection", async () => {
  const name = "HttpClient damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(6, index, name);
    await runDamagedCase(random, label);
  }
});

Deno.test("HttpClient rejects a Content-Length or Transfer-Encoding padded with VT, FF or NBSP", async () => {
  for (const [fields, code] of NOT_OWS) {
    const wire = `HTTP/1.1 200 OK\r\n${fields}\r\n\r\nok`;
    const scripted = scriptedClient(new ScriptedConn([[bytesOf(wire)]]), DEFAULT_LIMITS);
    try {
      let caught: unknown;
      try {
        await requestWhole(scripted.client, "GET", "bytes");
      } catch (error) {
        caught = error;
      }
      assert.ok(
        caught instanceof DockerProtocolError,
        `${JSON.stringify(wire)}: ${describeError(caught)}`,
      );
      assert.equal(caught.code, code, JSON.stringify(wire));
      assert.ok(scripted.conns[0]!.closed, "the connection is closed, not pooled");
    } finally {
      scripted.client.close();
    }
  }
});
