/**
 * The `Docker` class itself: where it connects by default and that its
 * limits and timeouts reach the calls, on the main thread and in a worker
 * (each against a fake engine).
 */

import assert from "node:assert/strict";
import {
  Docker,
  DockerConnectionError,
  DockerError,
  DockerNotFoundError,
  DockerProtocolError,
  DockerTimeoutError,
} from "../mod.ts";
import { httpResponse, respondEach, sleep, startFakeEngine, waitFor } from "./_fake_engine.ts";
import { rejection } from "./_helpers.ts";

const PING = () => httpResponse(200, "OK", { "Api-Version": "1.41" });

/** `_ping` and `/version`, as the connection check of `fromEnv` asks them. */
const ENGINE = respondEach((request) =>
  request.target.endsWith("/version")
    ? httpResponse(200, JSON.stringify({ ApiVersion: "1.41", Version: "20.10.24" }), {
      "Content-Type": "application/json",
    })
    : PING()
);

/** Runs `fn` with `DOCKER_HOST` set to `value` (or unset), then restores it. */
async function withDockerHost<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = Deno.env.get("DOCKER_HOST");
  if (value === undefined) Deno.env.delete("DOCKER_HOST");
  else Deno.env.set("DOCKER_HOST", value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("DOCKER_HOST");
    else Deno.env.set("DOCKER_HOST", saved);
  }
}

Deno.test("new Docker() connects to DOCKER_HOST when it is set", async () => {
  await using engine = await startFakeEngine(respondEach(PING));
  await withDockerHost(engine.host, async () => {
    await using docker = new Docker();
    assert.equal(docker.host, engine.host);
    assert.equal(await docker.system.ping(), "OK");
    assert.equal(engine.connections, 1);
  });
});

Deno.test("new Docker() falls back to /var/run/docker.sock without DOCKER_HOST", async () => {
  await withDockerHost(undefined, async () => {
    await using docker = new Docker();
    assert.equal(docker.host, "unix:///var/run/docker.sock");
  });
  // An empty DOCKER_HOST counts as unset, as in the docker CLI.
  await withDockerHost("", async () => {
    await using docker = new Docker();
    assert.equal(docker.host, "unix:///var/run/docker.sock");
  });
});

Deno.test("new Docker() without env permission uses the default socket and does not prompt", async () => {
  // `deno eval` would grant every permission: a script file run without --allow-env.
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/host.ts`;
    await Deno.writeTextFile(
      script,
      `import { Docker } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
const docker = new Docker(); console.log(docker.host); await docker.close();\n`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-lock", "--allow-read", script],
      env: { DOCKER_HOST: "unix:///somewhere/else.sock", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "unix:///var/run/docker.sock");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Docker.fromEnv connects through DOCKER_HOST and checks the engine", async (t) => {
  await t.step("an engine that answers", async () => {
    await using engine = await startFakeEngine(ENGINE);
    await using docker = await Docker.fromEnv({ env: { DOCKER_HOST: engine.host } });
    assert.equal(docker.host, engine.host);
    assert.ok(engine.connections >= 1, "the check pinged the engine");
  });
  await t.step("no engine: a DockerConnectionError naming what was tried", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const host = `unix://${dir}/none.sock`;
      const error = await rejection(Docker.fromEnv({ env: { DOCKER_HOST: host } }));
      assert.ok(error instanceof DockerConnectionError, String(error));
      assert.match(error.message, new RegExp(`${dir}/none\\.sock`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

/** An engine that reads a request and never answers. */
async function silent() {
  return await startFakeEngine(async (connection) => {
    await connection.readRequest();
    await connection.waitForClientClose();
  });
}

/** An engine that sends a chunked head and one chunk, then stalls. */
async function stalling() {
  return await startFakeEngine(async (connection) => {
    await connection.readRequest();
    await connection.write(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        '3\r\n[{"\r\n',
    );
    await connection.waitForClientClose();
  });
}

for (const worker of [false, true]) {
  const where = worker ? "in a worker" : "on this thread";
  const workers = worker ? { workers: { size: 1 } } : {};

  Deno.test(`Docker headersTimeout reaches the calls ${where}`, async () => {
    await using engine = await silent();
    await using docker = new Docker({
      host: engine.host,
      apiVersion: "1.41",
      headersTimeout: 100,
      ...workers,
    });
    // A JSON call, and a stream (which a client with workers runs in one).
    const calls = [
      docker.system.version(),
      docker.system.events().getReader().read(),
    ];
    for (const call of calls) {
      const error = await rejection(call);
      assert.ok(error instanceof DockerTimeoutError, String(error));
      assert.equal(error.phase, "headers");
      assert.equal(error.timeout, 100);
    }
  });

  Deno.test(`Docker bodyTimeout reaches the calls ${where}`, async () => {
    await using engine = await stalling();
    await using docker = new Docker({
      host: engine.host,
      apiVersion: "1.41",
      bodyTimeout: 100,
      ...workers,
    });
    // A JSON call, and a stream that does not follow (run in a worker by a
    // client with workers; follow streams are exempt).
    const calls = [
      docker.containers.list(),
      docker.containers.logs("web", { tty: false, follow: false }).getReader().read(),
    ];
    for (const call of calls) {
      const error = await rejection(call);
      assert.ok(error instanceof DockerTimeoutError, String(error));
      assert.equal(error.phase, "body");
      assert.equal(error.timeout, 100);
    }
  });

  Deno.test(`Docker maxHeaderSize reaches the calls ${where}`, async () => {
    const big = "x".repeat(2048);
    await using engine = await startFakeEngine(
      respondEach(() =>
        httpResponse(200, "[]", { "X-Padding": big, "Content-Type": "application/json" })
      ),
    );
    await using docker = new Docker({
      host: engine.host,
      apiVersion: "1.41",
      maxHeaderSize: 1024,
      ...workers,
    });
    const error = await rejection(docker.containers.list());
    assert.ok(error instanceof DockerProtocolError, String(error));
    assert.equal(error.code, "HEADERS_TOO_LARGE");
    const streamError = await rejection(docker.system.events().getReader().read());
    assert.ok(streamError instanceof DockerProtocolError, String(streamError));
    assert.equal(streamError.code, "HEADERS_TOO_LARGE");
  });
}

Deno.test("Docker keepAliveTimeout closes idle connections; 0 turns keep-alive off", async (t) => {
  await t.step("a short keep-alive: the next call after it opens a new connection", async () => {
    await using engine = await startFakeEngine(respondEach(PING));
    await using docker = new Docker({
      host: engine.host,
      apiVersion: "1.41",
      keepAliveTimeout: 50,
    });
    await docker.system.ping();
    await docker.system.ping();
    assert.equal(engine.connections, 1, "reused while fresh");
    await waitFor(() => engine.open === 0, 2000);
    await docker.system.ping();
    assert.equal(engine.connections, 2);
  });
  await t.step("keepAliveTimeout 0: one connection per call", async () => {
    await using engine = await startFakeEngine(respondEach(PING));
    await using docker = new Docker({ host: engine.host, apiVersion: "1.41", keepAliveTimeout: 0 });
    await docker.system.ping();
    await sleep(10);
    await docker.system.ping();
    assert.equal(engine.connections, 2);
  });
});

Deno.test("Docker.close ends open sessions and streams with 'the client was closed'", async (t) => {
  for (const worker of [false, true]) {
    await t.step(worker ? "in a worker" : "on this thread", async () => {
      const closedByClient: boolean[] = [];
      let answered = 0;
      await using engine = await startFakeEngine(async (connection) => {
        const request = await connection.readRequest();
        if (!request) return;
        if (request.target.includes("/attach")) {
          await connection.write(
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n" +
              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
          );
        } else {
          await connection.write(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
          );
        }
        answered++;
        closedByClient.push(await connection.waitForClientClose());
      });
      const docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      const session = await docker.containers.attach("c1", { tty: true, worker });
      const events = docker.system.events({ worker }).getReader();
      const pending = [session.readable.getReader().read(), events.read()];
      // Both calls answered, so both are open (not merely connected). A
      // worker's first start loads its module: give it time on a busy machine.
      await waitFor(() => answered === 2, 10_000);
      await docker.close();
      for (const read of pending) {
        const error = await rejection(read);
        assert.ok(error instanceof DockerConnectionError, String(error));
        assert.match(error.message, /the client was closed/);
      }
      await waitFor(() => closedByClient.length === 2, 10_000);
      session.close();
    });
  }
});

Deno.test("a stream whose bytes do not decode fails with a DockerProtocolError naming the call", async (t) => {
  for (const worker of [false, true]) {
    await t.step(worker ? "in a worker" : "on this thread", async () => {
      await using engine = await startFakeEngine(respondEach(() =>
        // Logs that are not multiplexed: byte 0 of a frame header is 9.
        httpResponse(200, new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 65]), {
          "Content-Type": "application/vnd.docker.raw-stream",
        })
      ));
      await using docker = new Docker({ host: engine.host, apiVersion: "1.41" });
      const error = await rejection(
        docker.containers.logs("web", { tty: false, worker }).getReader().read(),
      );
      assert.ok(error instanceof DockerProtocolError, String(error));
      assert.equal(error.code, "INVALID_FRAME");
      assert.match(
        error.message,
        /^Cannot read logs of container "web": invalid multiplexed-stream frame header: stream type 9/,
      );
    });
  }
});

Deno.test("Docker negotiates the API version from the engine's GET /version", async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    ["a Docker 29 engine (1.52, minimum 1.44): its minimum", {
      ApiVersion: "1.52",
      MinAPIVersion: "1.44",
    }, "1.44"],
    [
      "a newer engine that still serves 1.41",
      { ApiVersion: "1.45", MinAPIVersion: "1.24" },
      "1.41",
    ],
    ["an older engine: its own", { ApiVersion: "1.40", MinAPIVersion: "1.12" }, "1.40"],
    ["no version in the answer: 1.41", {}, "1.41"],
  ];
  for (const [name, answer, expected] of cases) {
    await t.step(name, async () => {
      const targets: string[] = [];
      await using engine = await startFakeEngine(respondEach((request) => {
        targets.push(request.target);
        return request.target === "/version"
          ? httpResponse(200, JSON.stringify(answer), { "Content-Type": "application/json" })
          : httpResponse(200, "[]", { "Content-Type": "application/json" });
      }));
      await using docker = new Docker({ host: engine.host });
      assert.equal(await docker.apiVersion(), expected);
      await docker.containers.list();
      assert.deepEqual(targets, ["/version", `/v${expected}/containers/json`]);
    });
  }
  await t.step("an engine older than 1.24: a DockerError saying so", async () => {
    await using engine = await startFakeEngine(
      respondEach(() =>
        httpResponse(200, JSON.stringify({ ApiVersion: "1.23" }), {
          "Content-Type": "application/json",
        })
      ),
    );
    await using docker = new Docker({ host: engine.host });
    const error = await rejection(docker.containers.list());
    assert.ok(error instanceof DockerError, String(error));
    assert.match(error.message, /speaks API 1\.23, berth needs at least 1\.24/);
  });
  await t.step("an abort while it runs fails only the call it belongs to", async () => {
    const versionAsked = Promise.withResolvers<void>();
    const answer = Promise.withResolvers<void>();
    const targets: string[] = [];
    await using engine = await startFakeEngine(async (connection) => {
      while (true) {
        const request = await connection.readRequest();
        if (!request) return;
        targets.push(request.target);
        if (request.target === "/version") {
          versionAsked.resolve();
          await answer.promise;
          await connection.write(
            httpResponse(200, JSON.stringify({ ApiVersion: "1.41" }), {
              "Content-Type": "application/json",
            }),
          );
        } else {
          await connection.write(httpResponse(200, "[]", { "Content-Type": "application/json" }));
        }
      }
    });
    await using docker = new Docker({ host: engine.host });
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    // The first call starts the negotiation with its signal; the stream and
    // the second call wait for the same negotiation.
    const aborted = docker.containers.list({ signal: controller.signal });
    const events = docker.system.events({ signal: controller.signal }).getReader();
    const other = docker.containers.list();
    await versionAsked.promise;
    controller.abort(reason);
    assert.equal(await rejection(aborted), reason);
    assert.equal(await rejection(events.read()), reason);
    answer.resolve();
    assert.deepEqual(await other, []);
    assert.equal(await docker.apiVersion(), "1.41");
    assert.deepEqual(targets, ["/version", "/v1.41/containers/json"]);
  });
});

Deno.test("attachWebSocket names stdin, stdout and stderr (API 1.42+ attaches only those named)", async () => {
  const targets: string[] = [];
  await using engine = await startFakeEngine(respondEach((request) => {
    targets.push(request.target);
    return httpResponse(404, JSON.stringify({ message: "No such container: web" }));
  }));
  await using docker = new Docker({ host: engine.host, apiVersion: "1.44" });
  await rejection(docker.containers.attachWebSocket("web", { worker: false }));
  const query = new URLSearchParams(targets[0]!.split("?")[1]);
  assert.equal(query.get("stdin"), "1");
  assert.equal(query.get("stdout"), "1");
  assert.equal(query.get("stderr"), "1");
});

Deno.test("a TTY lookup ends with its logs stream or attach, cancelled or failed", async (t) => {
  /** An engine whose inspect never answers; logs either stall or answer 404. */
  async function withEngine(
    logs: "stall" | "404",
    body: (docker: Docker, inspectClosed: () => boolean) => Promise<void>,
  ) {
    let inspectClosed = false;
    await using engine = await startFakeEngine(async (connection) => {
      const request = await connection.readRequest();
      if (!request) return;
      if (request.target.endsWith("/json")) {
        await connection.waitForClientClose();
        inspectClosed = true;
      } else if (logs === "404") {
        await connection.write(
          httpResponse(404, JSON.stringify({ message: "No such container: web" })),
        );
      } else {
        await connection.waitForClientClose();
      }
    });
    // A lookup that is waited for would hold the test until this timeout.
    await using docker = new Docker({
      host: engine.host,
      apiVersion: "1.41",
      headersTimeout: 20_000,
    });
    await body(docker, () => inspectClosed);
  }
  for (const worker of [false, true]) {
    await t.step(`cancel before the head (worker: ${worker})`, async () => {
      await withEngine("stall", async (docker, inspectClosed) => {
        const reader = docker.containers.logs("web", { worker }).getReader();
        const read = reader.read().catch((error) => error);
        await sleep(50);
        const started = performance.now();
        await reader.cancel();
        assert.ok(performance.now() - started < 2_000, "cancel waited for the TTY lookup");
        await read;
        await waitFor(inspectClosed);
      });
    });
    await t.step(`logs failing with 404 (worker: ${worker})`, async () => {
      await withEngine("404", async (docker, inspectClosed) => {
        const started = performance.now();
        const error = await rejection(docker.containers.logs("web", { worker }).getReader().read());
        assert.ok(error instanceof DockerNotFoundError, String(error));
        assert.ok(performance.now() - started < 2_000, "the failure waited for the TTY lookup");
        await waitFor(inspectClosed);
      });
    });
    await t.step(`attach failing with 404 (worker: ${worker})`, async () => {
      await withEngine("404", async (docker, inspectClosed) => {
        const started = performance.now();
        const error = await rejection(docker.containers.attach("web", { worker }));
        assert.ok(error instanceof DockerNotFoundError, String(error));
        assert.ok(performance.now() - started < 2_000, "the failure waited for the TTY lookup");
        await waitFor(inspectClosed);
      });
    });
  }
});
