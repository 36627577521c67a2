/**
 * The swarm family (`docker.swarm`, `nodes`, `services`, `tasks`, `secrets`,
 * `configs`) against the real test engine.
 *
 * A swarm changes engine-wide state (it creates the `ingress` network and the
 * `docker_gwbridge` bridge, and binds ports), so the end-to-end test runs only
 * on an engine private to this run: `deno task test` under CI always provides
 * one; a developer gets one with `BERTH_PRIVATE_ENGINE=1 deno task test
 * tests/integration/swarm_test.ts`. On a shared engine it is ignored, and its
 * name says why. The argument checks need no engine state and always run.
 */

import assert from "node:assert/strict";
import {
  collectFrames,
  CredentialStore,
  Docker,
  DockerApiError,
  type DockerCallEvent,
  DockerConflictError,
  DockerNotFoundError,
  DockerProtocolError,
  type Task,
} from "../../mod.ts";
import { engineRequest } from "../../tools/_engine.ts";
import { type FakeRequest, httpResponse, respondEach, startFakeEngine } from "../_fake_engine.ts";
import { TEST_LABELS, testDocker, testEnv, testImage, text, uniqueName } from "./_docker.ts";

/** Calls a method and expects a rejection (or a throw) of `type`, optionally matching `message`. */
async function expectError(
  call: () => unknown,
  type: new (...args: never[]) => Error,
  message?: RegExp,
): Promise<Error> {
  let caught: unknown;
  try {
    const result = await call();
    // Streams fail on their first read.
    if (result instanceof ReadableStream) await result.getReader().read();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Expects a `DockerApiError` with this exact status (not a 404/409 subclass unless asked). */
async function expectStatus(call: () => unknown, status: number, message?: RegExp): Promise<void> {
  const error = await expectError(call, DockerApiError, message);
  assert.equal((error as DockerApiError).status, status, error.message);
}

/**
 * Expects the engine's "update out of sequence" (a stale `version`): a
 * `DockerConflictError`, although the engine answers 500.
 */
async function expectStale(call: () => unknown): Promise<void> {
  const error = await expectError(call, DockerConflictError, /out of sequence/);
  assert.equal((error as DockerConflictError).status, 500, error.message);
}

/** Polls `probe` until it returns a value, or fails with the last thing it saw. */
async function eventually<T>(
  what: string,
  probe: () => Promise<{ value: T } | { seen: unknown }>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let seen: unknown;
  while (Date.now() < deadline) {
    const result = await probe();
    if ("value" in result) return result.value;
    seen = result.seen;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(seen)}`,
  );
}

/**
 * Reads a versioned object and updates it with its `Version.Index`, reading
 * again while the engine answers "update out of sequence": nodes and
 * services also change on their own (node status, a service's update
 * status), so a read-modify-write can lose the race.
 *
 * @returns The object as read before the update that went through.
 */
async function readModifyWrite<T extends { Version?: { Index?: number } }>(
  read: () => Promise<T>,
  write: (current: T, version: number) => Promise<unknown>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const current = await read();
    try {
      await write(current, current.Version?.Index ?? 0);
      return current;
    } catch (error) {
      const raced = error instanceof DockerConflictError && /out of sequence/.test(error.message);
      if (!raced || attempt === 10) throw error;
    }
  }
}

/** A TCP port nobody listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The running tasks of a service, once there are `count`. */
function runningTasks(docker: Docker, service: string, count: number): Promise<Task[]> {
  return eventually(`${count} running task(s) of service ${service}`, async () => {
    const tasks = await docker.tasks.list({
      filters: { service: [service], "desired-state": ["running"] },
    });
    const running = tasks.filter((t) => t.Status?.State === "running");
    if (running.length === count) return { value: running };
    const failed = tasks.find((t) =>
      t.Status?.State === "failed" || t.Status?.State === "rejected"
    );
    if (failed) throw new Error(`task of ${service} failed: ${JSON.stringify(failed.Status)}`);
    return { seen: tasks.map((t) => [t.ID, t.Status?.State, t.Status?.Err]) };
  });
}

/** A service's logs, once they contain `needle`. */
function logsContaining(docker: Docker, service: string, needle: string) {
  return eventually(`"${needle}" in the logs of ${service}`, async () => {
    const output = await collectFrames(docker.services.logs(service));
    return text(output.stdout).includes(needle)
      ? { value: output }
      : { seen: text(output.stdout) + text(output.stderr) };
  });
}

Deno.test("swarm namespaces reject empty ids, missing versions and bad bodies before any I/O", async (t) => {
  const events: DockerCallEvent[] = [];
  await using docker = testDocker({ observer: (event) => events.push(event) });
  const v = { version: 1 };
  const calls: Record<string, [() => unknown, new (...args: never[]) => Error]> = {
    "nodes.inspect": [() => docker.nodes.inspect(""), TypeError],
    "nodes.update": [() => docker.nodes.update(" ", {}, v), TypeError],
    "nodes.update without version": [
      () => docker.nodes.update("n", {}, {} as { version: number }),
      TypeError,
    ],
    "nodes.update with version -1": [
      () => docker.nodes.update("n", {}, { version: -1 }),
      RangeError,
    ],
    "nodes.remove": [() => docker.nodes.remove(".."), TypeError],
    "services.inspect": [() => docker.services.inspect(""), TypeError],
    "services.update": [() => docker.services.update("", {}, v), TypeError],
    "services.update with version 1.5": [
      () => docker.services.update("s", {}, { version: 1.5 }),
      RangeError,
    ],
    "services.remove": [() => docker.services.remove(""), TypeError],
    "services.logs": [() => docker.services.logs("", { tty: false }), TypeError],
    "services.create without spec": [
      () => docker.services.create(null as unknown as Record<string, never>),
      TypeError,
    ],
    "tasks.inspect": [() => docker.tasks.inspect(""), TypeError],
    "tasks.logs": [() => docker.tasks.logs(".", { tty: false }), TypeError],
    "secrets.inspect": [() => docker.secrets.inspect(""), TypeError],
    "secrets.update": [() => docker.secrets.update("", {}, v), TypeError],
    "secrets.update without version": [
      () => docker.secrets.update("s", {}, {} as { version: number }),
      TypeError,
    ],
    "secrets.remove": [() => docker.secrets.remove(""), TypeError],
    "secrets.create without name": [
      () => docker.secrets.create({ Name: "", Data: "x" }),
      TypeError,
    ],
    "secrets.create with a number as data": [
      () => docker.secrets.create({ Name: "n", Data: 42 as unknown as string }),
      TypeError,
    ],
    "configs.inspect": [() => docker.configs.inspect(""), TypeError],
    "configs.update": [() => docker.configs.update("", {}, v), TypeError],
    "configs.remove": [() => docker.configs.remove(""), TypeError],
    "configs.create without name": [
      () => docker.configs.create({ Name: " ", Data: "x" }),
      TypeError,
    ],
    "swarm.update without version": [
      () => docker.swarm.update({}, {} as { version: number }),
      TypeError,
    ],
    "swarm.update with version NaN": [() => docker.swarm.update({}, { version: NaN }), RangeError],
    "swarm.join without managers": [
      () => docker.swarm.join({ ListenAddr: "", RemoteAddrs: [], JoinToken: "SWMTKN-1-x" }),
      TypeError,
    ],
    "swarm.join without token": [
      () => docker.swarm.join({ ListenAddr: "", RemoteAddrs: ["127.0.0.1:1"], JoinToken: "" }),
      TypeError,
    ],
    "swarm.unlock without key": [() => docker.swarm.unlock(" "), TypeError],
  };
  for (const [name, [call, type]] of Object.entries(calls)) {
    await t.step(name, async () => {
      await expectError(call, type);
    });
  }
  assert.deepEqual(events, [], "no request may reach the engine");
});

// The engine cannot show what it received in X-Registry-Auth (it only hands
// the value to the nodes that pull), so this one check of the wire form uses
// the fake engine.
Deno.test("services.create and update send auth as base64url JSON in X-Registry-Auth, only when asked", async () => {
  const seen: FakeRequest[] = [];
  const json = { "Content-Type": "application/json" };
  await using engine = await startFakeEngine(respondEach((request) => {
    seen.push(request);
    return request.target.includes("/create")
      ? httpResponse(201, '{"ID":"svc1","Warning":"no digest"}', json)
      : httpResponse(200, '{"Warnings":null}', json);
  }));
  const registry = "127.0.0.1:5000";
  // "???>>>" has `/` and `+` in standard base64: the URL alphabet must replace them.
  const auth = { username: "berth", password: "???>>>\u00fc", serveraddress: registry };
  const stored = { username: "from-store", password: "store-pw" };
  await using docker = new Docker({
    host: engine.host,
    apiVersion: "1.41",
    credentials: CredentialStore.from({ [registry]: stored }),
  });
  const spec = {
    Name: "svc",
    TaskTemplate: { ContainerSpec: { Image: `${registry}/team/app:1` } },
  };
  const decode = (request: FakeRequest | undefined) => {
    const header = request?.headers["x-registry-auth"];
    if (header === undefined) return undefined;
    assert.match(header, /^[A-Za-z0-9_-]+={0,2}$/);
    const binary = atob(header.replaceAll("-", "+").replaceAll("_", "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  };

  const created = await docker.services.create(spec, { auth });
  assert.deepEqual(created, { ID: "svc1", Warnings: ["no digest"] });
  assert.deepEqual(decode(seen[0]), auth);

  const updated = await docker.services.update("svc", spec, {
    version: 7,
    auth,
    registryAuthFrom: "previous-spec",
  });
  assert.deepEqual(updated, { Warnings: [] });
  assert.equal(
    seen[1]?.target,
    "/v1.41/services/svc/update?version=7&registryAuthFrom=previous-spec",
  );
  assert.deepEqual(decode(seen[1]), auth);

  // `true`: the client's store, for the image's registry (--with-registry-auth).
  await docker.services.create(spec, { auth: true });
  assert.deepEqual(decode(seen[2]), { serveraddress: registry, ...stored });
  // Unset: nothing, even with a store (the swarm would keep and spread it).
  await docker.services.create(spec);
  await docker.services.update("svc", spec, { version: 8 });
  assert.equal(decode(seen[3]), undefined);
  assert.equal(decode(seen[4]), undefined);
  assert.equal(seen.length, 5);
});

// A swarm changes engine-wide state: only on an engine private to this run
// (`deno task test` in CI always has one; BERTH_PRIVATE_ENGINE=1 for developers).
Deno.test({
  name: "swarm family end to end (ignored unless BERTH_TEST_PRIVATE=1: needs a private engine)",
  ignore: !testEnv().privateEngine,
  async fn(t) {
    const events: DockerCallEvent[] = [];
    await using docker = testDocker({ observer: (event) => events.push(event) });
    const { host } = testEnv();
    const tag = uniqueName("swarm");
    const labels = { ...TEST_LABELS, "berth.case": tag };
    const missing = "berth-test-no-such-object";
    const hadGwbridge = (await engineRequest(host, "/networks/docker_gwbridge")).status === 200;
    let joined = false;

    await t.step("outside a swarm: swarm calls answer 503", async () => {
      await expectStatus(() => docker.swarm.inspect(), 503, /not a swarm manager/);
      await expectStatus(() => docker.nodes.list(), 503);
      await expectStatus(() => docker.secrets.list(), 503);
      await expectStatus(() => docker.swarm.leave(), 503, /not part of a swarm/);
      await expectStatus(() => docker.swarm.unlockKey(), 503);
      // A malformed token fails at once (a well-formed wrong one would make
      // the engine try the managers for a while); the token stays out of the message.
      const token = "SWMTKN-1-berth-not-a-token";
      const error = await expectError(
        () =>
          docker.swarm.join({
            ListenAddr: `127.0.0.1:${freePort()}`,
            RemoteAddrs: ["127.0.0.1:1"],
            JoinToken: token,
          }),
        DockerApiError,
        /invalid join token/,
      );
      assert.equal((error as DockerApiError).status, 500);
      assert.ok(!error.message.includes(token));
    });

    try {
      let nodeId = "";
      await t.step("swarm.init on loopback; a second init answers 503", async () => {
        const listen = `127.0.0.1:${freePort()}`;
        // A data path (VXLAN) port of our own, in the engine's 1024-49151 range,
        // so that swarms of other private engines on this host do not collide.
        const dataPathPort = 20_000 + Math.floor(Math.random() * 20_000);
        const result = await docker.swarm.init({
          ListenAddr: listen,
          AdvertiseAddr: "127.0.0.1",
          DataPathPort: dataPathPort,
        });
        joined = true;
        assert.match(result.NodeID, /^[a-z0-9]{25}$/);
        nodeId = result.NodeID;
        await expectStatus(
          () => docker.swarm.init({ ListenAddr: listen, AdvertiseAddr: "127.0.0.1" }),
          503,
          /already part of a swarm/,
        );
      });

      await t.step("swarm.inspect gives spec, version and join tokens", async () => {
        const swarm = await docker.swarm.inspect();
        assert.match(swarm.JoinTokens?.Worker ?? "", /^SWMTKN-1-/);
        assert.match(swarm.JoinTokens?.Manager ?? "", /^SWMTKN-1-/);
        assert.ok((swarm.Version?.Index ?? 0) > 0);
        assert.equal(swarm.Spec?.EncryptionConfig?.AutoLockManagers, false);
      });

      await t.step(
        "swarm.join while in a swarm answers 503; the token stays out of the message",
        async () => {
          const { JoinTokens } = await docker.swarm.inspect();
          const token = JoinTokens?.Worker ?? "";
          const error = await expectError(
            () =>
              docker.swarm.join({
                ListenAddr: "127.0.0.1:0",
                RemoteAddrs: ["127.0.0.1:1"],
                JoinToken: token,
              }),
            DockerApiError,
            /already part of a swarm/,
          );
          assert.equal((error as DockerApiError).status, 503);
          assert.ok(!error.message.includes(token));
        },
      );

      await t.step(
        "swarm.update rotates the worker token only; a stale version is refused",
        async () => {
          const before = await readModifyWrite(
            () => docker.swarm.inspect(),
            (swarm, version) =>
              docker.swarm.update(swarm.Spec ?? {}, { version, rotateWorkerToken: true }),
          );
          const version = before.Version?.Index ?? 0;
          const after = await docker.swarm.inspect();
          assert.notEqual(after.JoinTokens?.Worker, before.JoinTokens?.Worker);
          assert.equal(after.JoinTokens?.Manager, before.JoinTokens?.Manager);
          assert.ok((after.Version?.Index ?? 0) > version);
          // The engine reports a version conflict as a 500; berth, as a conflict.
          await expectStale(() => docker.swarm.update(before.Spec ?? {}, { version }));
        },
      );

      await t.step("swarm.unlockKey is empty with autolock off; unlock answers 409", async () => {
        assert.deepEqual(await docker.swarm.unlockKey(), { UnlockKey: "" });
        await expectError(
          () => docker.swarm.unlock("SWMKEY-1-not-a-real-key"),
          DockerConflictError,
          /not locked/,
        );
      });

      await t.step(
        "swarm autolock: unlockKey gives a key, rotateManagerUnlockKey changes it",
        async () => {
          const inspect = () => docker.swarm.inspect();
          await readModifyWrite(inspect, (swarm, version) =>
            docker.swarm.update(
              { ...swarm.Spec, EncryptionConfig: { AutoLockManagers: true } },
              { version },
            ));
          const first = (await docker.swarm.unlockKey()).UnlockKey;
          assert.match(first, /^SWMKEY-1-/);
          await readModifyWrite(
            inspect,
            (swarm, version) =>
              docker.swarm.update(swarm.Spec ?? {}, { version, rotateManagerUnlockKey: true }),
          );
          const second = (await docker.swarm.unlockKey()).UnlockKey;
          assert.match(second, /^SWMKEY-1-/);
          assert.notEqual(second, first);
          await readModifyWrite(inspect, (swarm, version) =>
            docker.swarm.update(
              { ...swarm.Spec, EncryptionConfig: { AutoLockManagers: false } },
              { version },
            ));
          assert.equal((await docker.swarm.unlockKey()).UnlockKey, "");
        },
      );

      await t.step(
        "nodes: list, inspect, update (label), remove refused for a manager",
        async () => {
          const nodes = await docker.nodes.list();
          assert.deepEqual(nodes.map((n) => n.ID), [nodeId]);
          const managers = await docker.nodes.list({ filters: { role: ["manager"] } });
          assert.equal(managers.length, 1);
          assert.deepEqual(await docker.nodes.list({ filters: { role: ["worker"] } }), []);

          const node = await readModifyWrite(
            () => docker.nodes.inspect(nodeId),
            (current, version) =>
              docker.nodes.update(nodeId, { ...current.Spec, Labels: labels }, { version }),
          );
          assert.equal(node.Spec?.Role, "manager");
          assert.equal(node.ManagerStatus?.Leader, true);
          const version = node.Version?.Index ?? 0;
          const updated = await docker.nodes.inspect(nodeId);
          assert.equal(updated.Spec?.Labels?.["berth.case"], tag);
          const byLabel = await docker.nodes.list({
            filters: { "node.label": [`berth.case=${tag}`] },
          });
          assert.deepEqual(byLabel.map((n) => n.ID), [nodeId]);

          await expectStale(() =>
            docker.nodes.update(nodeId, { ...node.Spec, Labels: {} }, { version })
          );
          await expectStatus(() => docker.nodes.remove(nodeId), 400, /manager/);
          await expectError(() => docker.nodes.inspect(missing), DockerNotFoundError);
          await expectError(
            () => docker.nodes.update(missing, { ...node.Spec }, { version: 1 }),
            DockerNotFoundError,
          );
          await expectError(
            () => docker.nodes.remove(missing, { force: true }),
            DockerNotFoundError,
          );
        },
      );

      const secretName = `${tag}-secret`;
      const secretText = "s3cr3t-\u00fc-\u2713";
      let secretId = "";
      await t.step(
        "secrets: create, inspect, list by label, update labels, conflicts",
        async () => {
          ({ ID: secretId } = await docker.secrets.create({
            Name: secretName,
            Data: secretText,
            Labels: labels,
          }));
          assert.match(secretId, /^[a-z0-9]{25}$/);
          const secret = await docker.secrets.inspect(secretName);
          assert.equal(secret.ID, secretId);
          assert.equal(secret.Spec?.Name, secretName);
          assert.equal(secret.Spec?.Data, undefined, "the engine never gives a secret back");
          const listed = await docker.secrets.list({ filters: { label: [`berth.case=${tag}`] } });
          assert.deepEqual(listed.map((s) => s.ID), [secretId]);

          const version = secret.Version?.Index ?? 0;
          await docker.secrets.update(secretId, {
            ...secret.Spec,
            Labels: { ...labels, stage: "updated" },
          }, { version });
          const updated = await docker.secrets.inspect(secretId);
          assert.equal(updated.Spec?.Labels?.stage, "updated");
          await expectStale(() => docker.secrets.update(secretId, { ...secret.Spec }, { version }));
          await expectStatus(
            () =>
              docker.secrets.update(secretId, { ...updated.Spec, Name: `${secretName}-renamed` }, {
                version: updated.Version?.Index ?? 0,
              }),
            400,
            /only updates to Labels/,
          );

          await expectError(
            () => docker.secrets.create({ Name: secretName, Data: "other", Labels: labels }),
            DockerConflictError,
            /already exists/,
          );
          await expectStatus(
            () => docker.secrets.create({ Name: `${secretName}-empty`, Data: "", Labels: labels }),
            400,
          );
          await expectError(() => docker.secrets.inspect(missing), DockerNotFoundError);
          await expectError(
            () => docker.secrets.update(missing, { Name: missing }, { version: 1 }),
            DockerNotFoundError,
          );
          await expectError(() => docker.secrets.remove(missing), DockerNotFoundError);
        },
      );

      const configName = `${tag}-config`;
      // Bytes, not text: the round trip must be exact.
      const configBytes = new Uint8Array([
        ...new TextEncoder().encode("config-line\n"),
        0,
        255,
        10,
      ]);
      let configId = "";
      await t.step(
        "configs: create from bytes, inspect gives them back, update labels, conflicts",
        async () => {
          ({ ID: configId } = await docker.configs.create({
            Name: configName,
            Data: configBytes,
            Labels: labels,
          }));
          const config = await docker.configs.inspect(configId);
          assert.equal(config.Spec?.Name, configName);
          const data = Uint8Array.from(atob(config.Spec?.Data ?? ""), (c) => c.charCodeAt(0));
          assert.deepEqual(data, configBytes);
          const listed = await docker.configs.list({ filters: { name: [configName] } });
          assert.deepEqual(listed.map((c) => c.ID), [configId]);

          const version = config.Version?.Index ?? 0;
          await docker.configs.update(configName, {
            ...config.Spec,
            Labels: { ...labels, stage: "updated" },
          }, { version });
          const updated = await docker.configs.inspect(configId);
          assert.equal(updated.Spec?.Labels?.stage, "updated");
          await expectStale(() => docker.configs.update(configId, { ...config.Spec }, { version }));

          await expectError(
            () => docker.configs.create({ Name: configName, Data: "other", Labels: labels }),
            DockerConflictError,
            /already exists/,
          );
          await expectError(() => docker.configs.inspect(missing), DockerNotFoundError);
          await expectError(
            () => docker.configs.update(missing, { Name: missing }, { version: 1 }),
            DockerNotFoundError,
          );
          await expectError(() => docker.configs.remove(missing), DockerNotFoundError);
        },
      );

      const serviceName = `${tag}-svc`;
      const ttyName = `${tag}-tty`;
      let serviceId = "";
      let taskId = "";
      await t.step("services.create runs a task with the secret and config mounted", async () => {
        const created = await docker.services.create({
          Name: serviceName,
          Labels: labels,
          TaskTemplate: {
            ContainerSpec: {
              Image: testImage(),
              Labels: labels,
              Command: [
                "sh",
                "-c",
                "echo hello-from-task; cat /run/secrets/berth-secret; echo; wc -c </berth-config; sleep 600",
              ],
              // sh as PID 1 ignores SIGTERM: do not wait 10 s for it on removal.
              StopGracePeriod: 1_000_000_000,
              Secrets: [{
                SecretID: secretId,
                SecretName: secretName,
                File: { Name: "berth-secret", UID: "0", GID: "0", Mode: 0o444 },
              }],
              Configs: [{
                ConfigID: configId,
                ConfigName: configName,
                File: { Name: "/berth-config", UID: "0", GID: "0", Mode: 0o444 },
              }],
            },
          },
          Mode: { Replicated: { Replicas: 1 } },
        });
        serviceId = created.ID;
        assert.match(serviceId, /^[a-z0-9]{25}$/);
        assert.ok(Array.isArray(created.Warnings));
        // A TTY service alongside, for the raw logs check below.
        await docker.services.create({
          Name: ttyName,
          Labels: labels,
          TaskTemplate: {
            ContainerSpec: {
              Image: testImage(),
              Labels: labels,
              TTY: true,
              Command: ["sh", "-c", "echo tty-line; sleep 600"],
              StopGracePeriod: 1_000_000_000,
            },
          },
          Mode: { Replicated: { Replicas: 1 } },
        });

        const [task] = await runningTasks(docker, serviceName, 1);
        taskId = task!.ID!;
        const inspected = await docker.tasks.inspect(taskId);
        assert.equal(inspected.ServiceID, serviceId);
        assert.equal(inspected.NodeID, nodeId);
        assert.match(inspected.Status?.ContainerStatus?.ContainerID ?? "", /^[0-9a-f]{64}$/);
        const all = await docker.tasks.list({ filters: { service: [serviceId] } });
        assert.ok(all.some((t) => t.ID === taskId));
      });

      await t.step(
        "services.create: a duplicate name is a conflict; registry auth stays redacted",
        async () => {
          const password = `berth-pw-${crypto.randomUUID()}`;
          const before = events.length;
          const error = await expectError(
            () =>
              docker.services.create(
                { Name: serviceName, TaskTemplate: { ContainerSpec: { Image: testImage() } } },
                {
                  auth: {
                    username: "berth",
                    password,
                    serveraddress: testEnv().registry?.address ?? "127.0.0.1:1",
                  },
                },
              ),
            DockerConflictError,
            /already exists/,
          );
          assert.ok(!error.message.includes(password));
          const call = events.slice(before).find((e) => e.path.includes("/services/create"));
          assert.equal(call?.requestHeaders["X-Registry-Auth"], "<redacted>");
          assert.ok(!JSON.stringify(events).includes(password));
        },
      );

      await t.step(
        "services: inspect (insertDefaults), list (status), secret and config in use",
        async () => {
          const plain = await docker.services.inspect(serviceName);
          assert.equal(plain.ID, serviceId);
          assert.equal(plain.Spec?.UpdateConfig, undefined);
          const full = await docker.services.inspect(serviceId, { insertDefaults: true });
          assert.equal(full.Spec?.UpdateConfig?.FailureAction, "pause");

          const listed = await docker.services.list({
            filters: { label: [`berth.case=${tag}`] },
            status: true,
          });
          assert.deepEqual(listed.map((s) => s.Spec?.Name).sort(), [serviceName, ttyName].sort());
          const status = listed.find((s) => s.ID === serviceId)?.ServiceStatus;
          assert.equal(status?.DesiredTasks, 1);
          const withoutStatus = await docker.services.list({ filters: { id: [serviceId] } });
          assert.equal(withoutStatus[0]?.ServiceStatus, undefined);

          await expectStatus(() => docker.secrets.remove(secretId), 400, /in use/);
          await expectStatus(() => docker.configs.remove(configId), 400, /in use/);
          await expectError(() => docker.services.inspect(missing), DockerNotFoundError);
        },
      );

      await t.step("services.logs and tasks.logs demultiplex the task's output", async () => {
        // The secret's text and the config's size, read inside the task.
        const expected = `hello-from-task\n${secretText}\n${configBytes.length}\n`;
        const { stdout } = await logsContaining(docker, serviceName, expected);
        assert.equal(text(stdout), expected);
        const task = await collectFrames(docker.tasks.logs(taskId, { details: true }));
        assert.match(text(task.stdout), /com\.docker\.swarm\.task\.id=\S+ hello-from-task\n/);
        const tail = await collectFrames(
          docker.services.logs(serviceId, { tail: 1, stderr: false }),
        );
        assert.equal(text(tail.stdout), `${configBytes.length}\n`);
        await expectError(() => docker.services.logs(missing), DockerNotFoundError);
        await expectError(() => docker.tasks.logs(missing), DockerNotFoundError);
        await expectError(() => docker.tasks.inspect(missing), DockerNotFoundError);
      });

      await t.step("services.logs of a TTY service gives the raw output", async () => {
        await runningTasks(docker, ttyName, 1);
        const { stdout, stderr } = await logsContaining(docker, ttyName, "tty-line");
        assert.equal(text(stdout), "tty-line\r\n");
        assert.equal(stderr.length, 0);
        // Told that there is no TTY, the raw bytes are not valid frames.
        await expectError(
          () => collectFrames(docker.services.logs(ttyName, { tty: false })),
          DockerProtocolError,
        );
      });

      await t.step("services.logs with follow delivers output and stops on abort", async () => {
        const controller = new AbortController();
        const stream = docker.services.logs(serviceId, { follow: true, signal: controller.signal });
        const reader = stream.getReader();
        const first = await reader.read();
        assert.equal(first.done, false);
        assert.match(text(first.value!.data), /hello-from-task/);
        const reason = new Error("enough");
        controller.abort(reason);
        await assert.rejects(async () => {
          while (!(await reader.read()).done) { /* drain until the abort lands */ }
        }, (error) => error === reason);
      });

      await t.step("services.update scales to 2 replicas; rollback returns to 1", async () => {
        const inspect = () => docker.services.inspect(serviceId);
        const service = await readModifyWrite(inspect, async (current, version) => {
          const result = await docker.services.update(serviceId, {
            ...current.Spec,
            Mode: { Replicated: { Replicas: 2 } },
          }, { version });
          assert.ok(Array.isArray(result.Warnings));
        });
        const version = service.Version?.Index ?? 0;
        await runningTasks(docker, serviceId, 2);
        await expectStale(() =>
          docker.services.update(serviceId, { ...service.Spec }, { version })
        );
        await expectError(
          // A complete spec: the engine checks the spec before it looks the service up.
          () => docker.services.update(missing, { ...service.Spec }, { version: 1 }),
          DockerNotFoundError,
        );

        await readModifyWrite(
          inspect,
          (current, version) =>
            docker.services.update(serviceId, current.Spec ?? {}, {
              version,
              rollback: "previous",
            }),
        );
        const rolledBack = await docker.services.inspect(serviceId);
        assert.equal(rolledBack.Spec?.Mode?.Replicated?.Replicas, 1);
        await runningTasks(docker, serviceId, 1);
      });

      await t.step("services.remove; then secrets and configs can go", async () => {
        await docker.services.remove(serviceId);
        await docker.services.remove(ttyName);
        await expectError(() => docker.services.inspect(serviceId), DockerNotFoundError);
        await expectError(() => docker.services.remove(serviceId), DockerNotFoundError);
        // The swarm lets go of a secret once no service refers to it.
        await docker.secrets.remove(secretId);
        await docker.configs.remove(configName);
        await expectError(() => docker.secrets.inspect(secretId), DockerNotFoundError);
        await expectError(() => docker.configs.inspect(configId), DockerNotFoundError);
      });

      await t.step("swarm.leave needs force on the last manager", async () => {
        await expectStatus(() => docker.swarm.leave(), 503, /force/);
        await docker.swarm.leave({ force: true });
        joined = false;
        await expectStatus(() => docker.swarm.inspect(), 503);
      });
    } finally {
      if (joined) await docker.swarm.leave({ force: true }).catch(() => {});
      // Leaving the swarm stops its tasks; remove what is left of their containers.
      for (
        const c of await docker.containers.list({
          all: true,
          filters: { label: [`berth.case=${tag}`] },
        })
      ) {
        if (c.Id) await docker.containers.remove(c.Id, { force: true }).catch(() => {});
      }
      // The swarm created this host bridge; it outlives the swarm and would
      // clash with other engines' swarms on this host.
      if (!hadGwbridge) {
        await engineRequest(host, "/networks/docker_gwbridge", { method: "DELETE" })
          .catch(() => {});
      }
    }
  },
});
