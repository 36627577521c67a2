/**
 * How every namespace method reports a bad argument: through the promise
 * or the stream it returns, never by throwing at the call. A synchronous
 * throw from a method that returns a promise escapes `.catch`, and takes
 * down a whole `Promise.allSettled([...])` expression with it.
 */

import assert from "node:assert/strict";
import { Docker } from "../../mod.ts";
import { httpResponse, respondEach, startFakeEngine } from "../_fake_engine.ts";

/** The `Docker` properties that hold a namespace of engine calls. */
const NAMESPACES = [
  "containers",
  "images",
  "exec",
  "networks",
  "volumes",
  "system",
  "distribution",
  "plugins",
  "swarm",
  "nodes",
  "services",
  "tasks",
  "secrets",
  "configs",
] as const;

/** Arguments wrong for every method: empty ids, names, bodies and options. */
const BAD_ARGUMENTS = ["", "", ""];

Deno.test("every namespace method reports bad arguments through its promise or stream, never by throwing", async (t) => {
  // An engine that refuses everything: a call that gets past its checks fails there.
  await using engine = await startFakeEngine(
    respondEach(() =>
      httpResponse(500, JSON.stringify({ message: "the fake engine refuses" }), {
        "Content-Type": "application/json",
      })
    ),
  );
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
  let checked = 0;
  for (const namespace of NAMESPACES) {
    const target = docker[namespace] as unknown as Record<string, unknown>;
    const prototype = Object.getPrototypeOf(target) as object;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = Object.getOwnPropertyDescriptor(prototype, name)?.value;
      if (name === "constructor" || typeof method !== "function") continue;
      await t.step(`${namespace}.${name}`, async () => {
        let result: unknown;
        try {
          result = method.apply(target, BAD_ARGUMENTS);
        } catch (error) {
          assert.fail(`${namespace}.${name} threw at the call: ${error}`);
        }
        if (result instanceof ReadableStream) {
          await assert.rejects(result.getReader().read());
        } else {
          assert.ok(result instanceof Promise, `${namespace}.${name} returned ${String(result)}`);
          await assert.rejects(result);
        }
        checked++;
      });
    }
  }
  // Every namespace was walked (a class turned into something else would
  // leave the loop above with nothing to check).
  assert.ok(checked > 100, `only ${checked} methods checked`);
});
