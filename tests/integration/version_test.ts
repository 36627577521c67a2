import assert from "node:assert/strict";
import { type DockerCallEvent, DockerConnectionError } from "../../mod.ts";
import { dockerFromEnv, resolveDockerOptions } from "../../src/connection_config.ts";
import { Docker } from "../../src/docker.ts";
import { testDocker, testEnv } from "./_docker.ts";

Deno.test("apiVersion fixed at 1.40 sends /v1.40/ paths and never asks /version", async () => {
  const events: DockerCallEvent[] = [];
  await using docker = testDocker({ apiVersion: "1.40", observer: (e) => events.push(e) });
  assert.equal(await docker.apiVersion(), "1.40");
  const info = await docker.system.info();
  assert.equal(typeof info.ID, "string");
  await docker.containers.list({ limit: 1 });
  assert.deepEqual(events.map((e) => e.path.split("?")[0]), [
    "/v1.40/info",
    "/v1.40/containers/json",
  ]);
});

Deno.test("apiVersion negotiates 1.41 with the real engine, once, through GET /version", async () => {
  const events: DockerCallEvent[] = [];
  await using docker = testDocker({ observer: (e) => events.push(e) });
  const engine = await docker.system.version();
  assert.ok(Number(engine.ApiVersion?.split(".")[1]) >= 41, engine.ApiVersion);
  assert.equal(await docker.apiVersion(), "1.41");
  await docker.system.info();
  await docker.system.info();
  const paths = events.map((e) => e.path);
  assert.deepEqual(paths, ["/version", "/v1.41/version", "/v1.41/info", "/v1.41/info"]);
});

Deno.test("resolveDockerOptions honours DOCKER_API_VERSION end to end", async () => {
  const events: DockerCallEvent[] = [];
  const resolved = await resolveDockerOptions({
    env: { DOCKER_HOST: testEnv().host, DOCKER_API_VERSION: "1.40" },
    warn: () => {},
  });
  assert.equal(resolved.apiVersion, "1.40");
  await using docker = new Docker({ ...resolved, observer: (e) => events.push(e) });
  await docker.system.version();
  assert.deepEqual(events.map((e) => e.path), ["/v1.40/version"]);
});

Deno.test("dockerFromEnv connects to the test engine and negotiates the version", async () => {
  const events: DockerCallEvent[] = [];
  await using docker = await dockerFromEnv({
    env: { DOCKER_HOST: testEnv().host },
    observer: (e) => events.push(e),
    warn: () => {},
  });
  assert.deepEqual(events.map((e) => e.path), ["/version"]);
  assert.equal(await docker.apiVersion(), "1.41");
  assert.equal(await docker.system.ping(), "OK");
});

Deno.test("dockerFromEnv with a fixed version checks the engine with a ping", async () => {
  const events: DockerCallEvent[] = [];
  await using docker = await dockerFromEnv({
    env: { DOCKER_HOST: testEnv().host, DOCKER_API_VERSION: "1.39" },
    observer: (e) => events.push(e),
    warn: () => {},
  });
  assert.deepEqual(events.map((e) => e.path), ["/_ping"]);
  assert.equal(await docker.apiVersion(), "1.39");
});

Deno.test("dockerFromEnv fails with DockerConnectionError on an address nothing listens on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      dockerFromEnv({ env: { DOCKER_HOST: `unix://${dir}/none.sock` } }),
      DockerConnectionError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
