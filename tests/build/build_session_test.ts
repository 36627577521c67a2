/**
 * How `buildImage` deals with an engine that refuses the BuildKit session
 * (`POST /session` answered with an error), on a fake engine: a build that
 * only uses the session for credentials and secrets goes on without it; one
 * that needs it (SSH agents, an output) fails with a clear error instead of
 * running without what it asked for.
 */

import assert from "node:assert/strict";
import { buildImage } from "../../src/api/_build.ts";
import { ApiClient } from "../../src/api/_client.ts";
import { DockerError } from "../../src/errors.ts";
import { readTar } from "../../src/stream/tar.ts";
import {
  type FakeRequest,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
} from "../_fake_engine.ts";

const ID = `sha256:${"b".repeat(64)}`;

/** An engine with no sessions: 404 on /session, a one-line build otherwise. */
async function engineWithoutSessions() {
  const requests: FakeRequest[] = [];
  await using engines = new AsyncDisposableStack();
  const engine = engines.use(
    await startFakeEngine(respondEach((request) => {
      requests.push(request);
      if (request.target.split("?")[0]!.endsWith("/session")) {
        return httpResponse(404, JSON.stringify({ message: "page not found" }), {
          "Content-Type": "application/json",
        });
      }
      return httpResponse(200, `{"aux":{"ID":"${ID}"}}\n`, {
        "Content-Type": "application/json",
      });
    })),
  );
  const http = newClient(engine);
  const api = new ApiClient(http, { apiVersion: "1.41" });
  const stack = engines.move();
  return {
    api,
    requests,
    [Symbol.asyncDispose]: async () => {
      http.close();
      await stack.disposeAsync();
    },
  };
}

const TAR = new Uint8Array(1024);

Deno.test("buildImage goes on without a session the engine refuses, when it can", async () => {
  await using setup = await engineWithoutSessions();
  const { api, requests } = setup;
  const result = await buildImage(api, TAR, { version: "2", secrets: { a: "b" } });
  assert.equal(result.imageId, ID);
  assert.deepEqual(requests.map((request) => request.target.split("?")[0]), [
    "/v1.41/session",
    "/v1.41/build",
  ]);
  assert.ok(!requests[1]!.target.includes("session="), "no session named in the build");
});

Deno.test("buildImage fails a build that needs the session the engine refuses", async (t) => {
  await using setup = await engineWithoutSessions();
  const { api, requests } = setup;
  // A socket where the agent would be: the check before the build passes.
  const dir = await Deno.makeTempDir({ prefix: "berth-agent-" });
  const agent = `${dir}/agent.sock`;
  using _listener = Deno.listen({ transport: "unix", path: agent });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  const aborted = Promise.withResolvers<unknown>();
  const dest = new WritableStream<Uint8Array>({ abort: (reason) => aborted.resolve(reason) });
  for (
    const [what, options] of [
      ["ssh", { ssh: { default: agent } }],
      ["output", { output: { type: "tar", dest } }],
    ] as const
  ) {
    await t.step(what, async () => {
      requests.length = 0;
      await assert.rejects(
        (async () => await buildImage(api, TAR, { version: "2", ...options }))(),
        (error: unknown) => {
          assert.ok(error instanceof DockerError);
          assert.match(
            error.message,
            /^Cannot build: the engine refused the BuildKit session that ssh and output need \(.*page not found/,
          );
          return true;
        },
      );
      assert.deepEqual(requests.map((request) => request.target.split("?")[0]), [
        "/v1.41/session",
      ]);
    });
  }
  // The caller's stream is not left waiting for an output that will never come.
  assert.match(String(await aborted.promise), /refused the BuildKit session/);
});

Deno.test("buildImage announces one session method per header line", async () => {
  await using setup = await engineWithoutSessions();
  const { api, requests } = setup;
  await buildImage(api, TAR, { version: "2" });
  const raw = requests[0]!;
  assert.equal(raw.method, "POST");
  assert.equal(raw.headers["upgrade"], "h2c");
  assert.match(raw.headers["x-docker-expose-session-uuid"] ?? "", /^[0-9a-f]{32}$/);
  const methods = raw.lines.filter(([name]) => name === "x-docker-expose-session-grpc-method");
  assert.deepEqual(methods.map(([, value]) => value), [
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
  ]);
});

Deno.test("buildImage refuses ssh and output without BuildKit, or malformed", () => {
  const api = {} as ApiClient;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ssh: { default: "/a" } }, /SSH agent forwarding needs BuildKit/],
    [{ output: { type: "local", dest: "out" } }, /A build output needs BuildKit/],
    [{ version: "2", ssh: { default: "" } }, /ssh must be an object of agent socket paths/],
    [{ version: "2", ssh: ["/a"] }, /ssh must be an object/],
    [{ version: "2", output: { type: "zip", dest: "x" } }, /output must be/],
    [{ version: "2", output: { type: "local", dest: new WritableStream() } }, /output must be/],
    [{ version: "2", output: { type: "tar", dest: "" } }, /output must be/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => buildImage(api, TAR, options), TypeError, message.source);
    assert.throws(() => buildImage(api, TAR, options), message);
  }
});

Deno.test("buildImage checks SSH agent sockets before anything is sent", async (t) => {
  await using setup = await engineWithoutSessions();
  const dir = await Deno.makeTempDir({ prefix: "berth-ssh-check-" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "not a socket");
    const cases: [string, RegExp][] = [
      [`${dir}/missing.sock`, /^Cannot build: no SSH agent socket for ssh\.work \(.*missing\.sock/],
      [`${dir}/file`, /^Cannot build: ssh\.work \(.*file\) is not a socket$/],
    ];
    for (const [path, message] of cases) {
      await t.step(path.slice(dir.length + 1), async () => {
        await assert.rejects(
          (async () => await buildImage(setup.api, TAR, { version: "2", ssh: { work: path } }))(),
          (error: unknown) => error instanceof DockerError && message.test(error.message),
        );
      });
    }
    assert.deepEqual(setup.requests, [], "nothing reached the engine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildImage aborts a stream output when the build fails before sending it", async () => {
  // The session is switched, then left silent until the client closes it.
  const failing = await startFakeEngine(async (connection) => {
    while (true) {
      const request = await connection.readRequest();
      if (!request) return;
      if (request.target.split("?")[0]!.endsWith("/session")) {
        await connection.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n");
        await connection.waitForClientClose();
        return;
      }
      await connection.write(
        httpResponse(200, `{"errorDetail":{"message":"exit code: 3"},"error":"exit code: 3"}\n`),
      );
    }
  });
  await using _ = failing;
  const http = newClient(failing);
  try {
    const api = new ApiClient(http, { apiVersion: "1.41" });
    const aborted = Promise.withResolvers<unknown>();
    const dest = new WritableStream<Uint8Array>({ abort: (reason) => aborted.resolve(reason) });
    await assert.rejects(
      (async () => await buildImage(api, TAR, { version: "2", output: { type: "tar", dest } }))(),
      /exit code: 3/,
    );
    assert.match(String(await aborted.promise), /exit code: 3/);
  } finally {
    http.close();
  }
});

Deno.test("a BuildKit build of a directory sends it as a tar when the engine refuses the session", async () => {
  await using setup = await engineWithoutSessions();
  const { api, requests } = setup;
  const dir = await Deno.makeTempDir({ prefix: "berth-context-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await Deno.mkdir(`${dir}/docker`);
  await Deno.writeTextFile(`${dir}/docker/app.Dockerfile`, "FROM scratch\n");
  await Deno.writeTextFile(`${dir}/a.txt`, "a\n");
  const options = { version: "2", dockerfile: "docker/app.Dockerfile" } as const;
  assert.equal((await buildImage(api, dir, options)).imageId, ID);
  await buildImage(api, dir, options);
  const [session, build, again] = requests;
  // The session offered the directory, under a key that stays the same
  // from one build of it to the next (what lets the engine diff).
  const methods = session!.lines.filter(([name]) => name === "x-docker-expose-session-grpc-method");
  assert.ok(methods.some(([, value]) => value === "/moby.filesync.v1.FileSync/DiffCopy"));
  const key = session!.headers["x-docker-expose-session-sharedkey"];
  assert.match(key ?? "", /^[0-9a-f]{64}$/);
  assert.equal(build!.target.split("?")[0], "/v1.41/build");
  assert.equal(again!.headers["x-docker-expose-session-sharedkey"], key);
  // Refused: the build gets the tar, with the Dockerfile's path inside it.
  const query = new URLSearchParams(build!.target.split("?")[1]);
  assert.equal(query.get("remote"), null);
  assert.equal(query.get("dockerfile"), "docker/app.Dockerfile");
  const names: string[] = [];
  for await (const entry of readTar(ReadableStream.from([build!.body]))) {
    names.push(entry.name);
    await entry.body.cancel();
  }
  assert.deepEqual(names, ["a.txt", "docker/", "docker/app.Dockerfile"]);
});
