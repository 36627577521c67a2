/**
 * `docker.system` against the real test engine and the test registry:
 * registry auth (without ever leaking the password), ping by `HEAD`,
 * events bounded by `since`/`until` and narrowed by filters, disk usage.
 */

import assert from "node:assert/strict";
import {
  Docker,
  DockerApiError,
  type DockerCallEvent,
  DockerNotFoundError,
  type EventMessage,
} from "../../mod.ts";
import { httpResponse, respondEach, startFakeEngine } from "../_fake_engine.ts";
import { TEST_LABELS, testDocker, testImage, uniqueName } from "./_docker.ts";
import { engineRequired, testEnv, testRegistry } from "./_env.ts";

/** Without a registry the auth tests may only be skipped outside CI and the test task. */
const noRegistry = !engineRequired() && testEnv().registry === undefined;

/** Every way an error can end up in a log: message, stack, JSON, String, inspect, and its causes. */
function serialise(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(
      String(current),
      JSON.stringify(current) ?? "",
      Deno.inspect(current, { depth: 10 }),
    );
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? "", JSON.stringify({ ...current }));
      parts.push(String(current.cause));
      current = current.cause;
    } else {
      current = undefined;
    }
  }
  return parts.join("\n");
}

/** Reads a stream to its end. */
async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

Deno.test({
  name: "System.auth logs in to the test registry with good credentials",
  ignore: noRegistry,
  async fn() {
    await using docker = testDocker();
    const { address, username, password } = testRegistry();
    const result = await docker.system.auth({ username, password, serveraddress: address });
    assert.equal(result.Status, "Login Succeeded");
  },
});

Deno.test({
  name: "System.auth rejects bad credentials with the engine's message and never the password",
  ignore: noRegistry,
  async fn() {
    const events: DockerCallEvent[] = [];
    await using docker = testDocker({ observer: (event) => events.push(event) });
    const { address, username, password } = testRegistry();
    const wrong = `wrong-${crypto.randomUUID()}`;
    const error = await docker.system.auth({ username, password: wrong, serveraddress: address })
      .catch((e) => e);
    assert.ok(error instanceof DockerApiError, String(error));
    // 20.10 engines answer 500, newer ones 401; both carry the registry's refusal.
    assert.ok(error.status === 401 || error.status === 500, String(error.status));
    assert.match(error.engineMessage, /401 Unauthorized|unauthorized/i);
    assert.ok(error.message.includes(error.engineMessage), "message carries the engine's text");
    assert.match(
      error.message,
      new RegExp(`log in to registry "${address.replace(/\./g, "\\.")}"`),
    );
    const everything = serialise(error) + JSON.stringify(events);
    assert.ok(!everything.includes(wrong), "the password never appears");
    assert.ok(!everything.includes(password), "nor the good one");
    assert.ok(events.some((event) => event.path.endsWith("/auth")), "the observer saw the call");
  },
});

Deno.test("System.auth redacts the password when the engine echoes it in its error", async () => {
  const password = `s3cret-${crypto.randomUUID()}`;
  let sent: unknown;
  let calls = 0;
  await using engine = await startFakeEngine(respondEach((request) => {
    sent = JSON.parse(new TextDecoder().decode(request.body));
    assert.equal(request.method, "POST");
    assert.equal(request.target, "/v1.41/auth");
    // A registry (or proxy) that puts what it got into its error text.
    return calls++ === 0
      ? httpResponse(500, JSON.stringify({ message: `bad login ${password}, try again` }))
      : httpResponse(404, JSON.stringify({ message: `no registry for ${password}` }));
  }));
  await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
  const error = await docker.system.auth({ username: "u", password, serveraddress: "r.example" })
    .catch((e) => e);
  assert.deepEqual(sent, { username: "u", password, serveraddress: "r.example" });
  assert.ok(error instanceof DockerApiError, String(error));
  assert.equal(error.status, 500);
  assert.equal(error.engineMessage, "bad login <redacted>, try again");
  assert.equal(
    error.message,
    'Cannot log in to registry "r.example": engine answered 500 Internal Server Error: bad login <redacted>, try again',
  );
  assert.ok(!serialise(error).includes(password));

  // The error class survives the redaction.
  const notFound = await docker.system.auth({ username: "u", password }).catch((e) => e);
  assert.ok(notFound instanceof DockerNotFoundError, String(notFound));
  assert.equal(notFound.engineMessage, "no registry for <redacted>");
  assert.match(notFound.message, /^Cannot log in to Docker Hub: /);
  assert.ok(!serialise(notFound).includes(password));
});

Deno.test("System.auth rejects a missing AuthConfig with TypeError before any I/O", async () => {
  await using docker = testDocker({ host: "unix:///nonexistent/berth.sock" });
  for (const bad of [undefined, null, "user:pass"]) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      async () => await docker.system.auth(bad as any),
      TypeError,
    );
  }
});

Deno.test("System.ping and System.pingInfo answer HEAD with headers only", async () => {
  await using docker = testDocker();
  assert.equal(await docker.system.ping({ method: "HEAD" }), "");
  assert.equal(await docker.system.ping(), "OK");
  const info = await docker.system.pingInfo({ method: "HEAD" });
  assert.match(info.apiVersion ?? "", /^\d+\.\d+$/);
  assert.equal(info.osType, "linux");
  assert.equal(typeof info.experimental, "boolean");
});

Deno.test("System.events with since and until replays a window, honours filters, and ends by itself", async () => {
  await using docker = testDocker();
  const watched = uniqueName("ev");
  const other = uniqueName("ev-other");
  const since = new Date(Date.now() - 1000);
  for (const name of [watched, other]) {
    await docker.volumes.create({ Name: name, Labels: { ...TEST_LABELS } });
    await docker.volumes.remove(name);
  }
  const until = new Date(Date.now() + 500);
  const events: EventMessage[] = await collect(docker.system.events({
    since,
    until,
    filters: { type: ["volume"], volume: [watched] },
    // A safety net only: the stream must end at `until` by itself.
    signal: AbortSignal.timeout(15_000),
  }));
  assert.deepEqual(events.map((event) => event.Action), ["create", "destroy"]);
  for (const event of events) {
    assert.equal(event.Type, "volume");
    assert.equal(event.Actor?.ID, watched);
  }

  // Unfiltered, the same window holds the other volume too.
  const all = await collect(docker.system.events({
    since,
    until,
    filters: { type: ["volume"] },
    signal: AbortSignal.timeout(15_000),
  }));
  const ids = new Set(all.map((event) => event.Actor?.ID));
  assert.ok(ids.has(watched) && ids.has(other), JSON.stringify([...ids]));
});

Deno.test("System.events accepts Unix seconds (with a fraction) for since and until", async () => {
  await using docker = testDocker();
  const name = uniqueName("ev-num");
  const since = Math.floor(Date.now() / 1000) - 1;
  await docker.volumes.create({ Name: name, Labels: { ...TEST_LABELS } });
  await docker.volumes.remove(name);
  const events = await collect(docker.system.events({
    since,
    until: Date.now() / 1000 + 0.3,
    filters: { volume: [name] },
    signal: AbortSignal.timeout(15_000),
  }));
  assert.deepEqual(events.map((event) => event.Action), ["create", "destroy"]);
});

Deno.test("System.events ends with the signal's reason when aborted", async () => {
  await using docker = testDocker();
  const controller = new AbortController();
  const events = docker.system.events({ filters: { type: ["volume"] }, signal: controller.signal });
  const reason = new Error("enough");
  setTimeout(() => controller.abort(reason), 100);
  await assert.rejects(collect(events), (error) => error === reason);
});

Deno.test("System.df counts the test image and a labelled volume", async () => {
  await using docker = testDocker();
  const name = uniqueName("df");
  await docker.volumes.create({ Name: name, Labels: { ...TEST_LABELS } });
  try {
    const usage = await docker.system.df();
    assert.equal(typeof usage.LayersSize, "number");
    assert.ok(
      usage.Images?.some((image) => image.RepoTags?.includes(testImage())),
      `${testImage()} is listed`,
    );
    const volume = usage.Volumes?.find((v) => v.Name === name);
    assert.ok(volume, "the volume is listed");
    assert.equal(volume.UsageData?.RefCount, 0);
    assert.ok(Array.isArray(usage.Containers));
  } finally {
    await docker.volumes.remove(name, { force: true }).catch(() => {});
  }
});
