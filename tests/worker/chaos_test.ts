/**
 * Chaos tests of the stream and session layers in stream workers: the
 * scenarios of tests/api/chaos_test.ts with `workers` on (fewer cases: each
 * starts a worker).
 */

import { Docker } from "../../src/docker.ts";
import { fuzzCases } from "../_fuzz.ts";
import { httpResponse, respondEach, startFakeEngine } from "../_fake_engine.ts";
import { chaos } from "../api/_chaos.ts";
import { sessionScenario } from "../api/_chaos_sessions.ts";
import { backpressureScenario, streamScenario } from "../api/_chaos_streams.ts";

/**
 * Starts a stream worker once, outside the scenarios' time bound: the
 * first worker of a test run loads (and, after a change, type-checks) the
 * worker module, which can take seconds.
 */
async function warmUp(): Promise<void> {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "{}\n")));
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41", workers: { size: 1 } });
  for await (const _ of docker.system.events()) break;
}

Deno.test("chaos in workers: logs, events and pull streams survive engine and consumer failures at random points", async () => {
  await warmUp();
  await chaos(
    "worker stream chaos",
    0xc4a06,
    fuzzCases(30),
    (random, trace) => streamScenario(random, trace, true),
  );
});

Deno.test("chaos in workers: attach and exec sessions survive half-close, engine closes, aborts and disposal at random points", async () => {
  await warmUp();
  await chaos(
    "worker session chaos",
    0x5e56,
    fuzzCases(25),
    (random, trace) => sessionScenario(random, trace, true),
  );
});

Deno.test("chaos in workers: a slow consumer stalls the engine's writes within the credit window", async () => {
  await warmUp();
  // The worker reads up to its credit window (512 KiB for output) ahead.
  await chaos("worker backpressure chaos", 0xba, fuzzCases(8), async (random, trace) => {
    await backpressureScenario(random, trace, true, 2 << 20);
  });
});
