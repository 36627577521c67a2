import assert from "node:assert/strict";
import { Docker } from "../../src/docker.ts";
import { DockerConnectionError, DockerTimeoutError } from "../../src/errors.ts";
import { createConnector, parseHost, type SshOptions } from "../../src/http/transport.ts";
import { sshArgs } from "../../src/http/ssh.ts";
import {
  type FakeEngine,
  type FakeHandler,
  type FakeRequest,
  httpResponse,
  respondEach,
  sleep,
  startFakeEngine,
  waitFor,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const FAKE_SSH = new URL("../_fake_ssh.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The fake ssh in one mode, with the log of the arguments of every start. */
async function fakeSsh(
  mode: "connect" | "deny" | "hang" | "chatty",
  engine?: FakeEngine,
): Promise<{ ssh: SshOptions; starts(): Promise<string[][]> } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "berth-ssh-" });
  const log = `${dir}/starts.log`;
  const args = ["run", "-A", "--quiet", FAKE_SSH, `--mode=${mode}`, `--log=${log}`];
  if (engine) args.push(`--socket=${engine.host.slice("unix://".length)}`);
  return {
    ssh: { command: Deno.execPath(), args },
    async starts() {
      try {
        const text = await Deno.readTextFile(log);
        return text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return [];
        throw error;
      }
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Answers the probe (`HEAD /_ping`) and `GET /_ping`; records requests. */
function pingEngine(seen: FakeRequest[] = [], delayMs = 0): FakeHandler {
  const respond = (request: FakeRequest) => {
    seen.push(request);
    if (request.method === "HEAD") return httpResponse(200, "", { "Api-Version": "1.41" });
    return httpResponse(200, "OK", { "Api-Version": "1.41" });
  };
  if (delayMs === 0) return respondEach(respond);
  return async (connection) => {
    while (true) {
      const request = await connection.readRequest();
      if (!request) return;
      if (request.method !== "HEAD") await sleep(delayMs);
      await connection.write(respond(request));
    }
  };
}

Deno.test("sshArgs puts extra arguments first, BatchMode always, and -- before the host", () => {
  assert.deepEqual(sshArgs({ transport: "ssh", hostname: "h" }), [
    "-o",
    "BatchMode=yes",
    "-T",
    "--",
    "h",
    "docker",
    "system",
    "dial-stdio",
  ]);
  assert.deepEqual(
    sshArgs({ transport: "ssh", user: "me", hostname: "::1", port: 2222 }, ["-i", "k"]),
    ["-i", "k", "-o", "BatchMode=yes", "-T", "-p", "2222", "-l", "me", "--", "::1", "docker"]
      .concat(["system", "dial-stdio"]),
  );
  // A socket path goes to the remote CLI, quoted for the remote shell.
  assert.deepEqual(
    sshArgs({ transport: "ssh", hostname: "h", path: "/run/it's $HOME/d.sock" }).slice(5),
    ["docker", "--host", "'unix:///run/it'\\''s $HOME/d.sock'", "system", "dial-stdio"],
  );
});

Deno.test("Docker over ssh:// runs ssh -o BatchMode=yes -p -l -- host docker system dial-stdio and answers calls", async () => {
  const seen: FakeRequest[] = [];
  await using engine = await startFakeEngine(pingEngine(seen));
  await using fake = await fakeSsh("connect", engine);
  await using docker = new Docker({
    host: "ssh://me@fake.example:2222",
    ssh: fake.ssh,
    apiVersion: "1.41",
  });
  assert.equal(docker.host, "ssh://me@fake.example:2222");
  assert.equal(await docker.system.ping(), "OK");
  assert.deepEqual(await fake.starts(), [[
    "-o",
    "BatchMode=yes",
    "-T",
    "-p",
    "2222",
    "-l",
    "me",
    "--",
    "fake.example",
    "docker",
    "system",
    "dial-stdio",
  ]]);
  // The probe, then the call, both with the Unix-style Host header.
  assert.deepEqual(seen.map((r) => `${r.method} ${r.target} ${r.headers.host}`), [
    "HEAD /_ping docker",
    "GET /_ping docker",
  ]);
});

Deno.test("Docker over ssh:// reuses one ssh process for many sequential calls", async () => {
  const seen: FakeRequest[] = [];
  await using engine = await startFakeEngine(pingEngine(seen));
  await using fake = await fakeSsh("connect", engine);
  await using docker = new Docker({ host: "ssh://fake", ssh: fake.ssh, apiVersion: "1.41" });
  for (let i = 0; i < 25; i++) assert.equal(await docker.system.ping(), "OK");
  assert.equal((await fake.starts()).length, 1);
  assert.equal(engine.connections, 1);
  assert.equal(seen.length, 26);
});

Deno.test("Docker over ssh:// settles 20 concurrent calls on at most maxConnections processes", async () => {
  await using engine = await startFakeEngine(pingEngine([], 10));
  await using fake = await fakeSsh("connect", engine);
  await using docker = new Docker({
    host: "ssh://fake",
    ssh: fake.ssh,
    apiVersion: "1.41",
    maxConnections: 3,
  });
  const results = await Promise.all(Array.from({ length: 20 }, () => docker.system.ping()));
  assert.ok(results.every((r) => r === "OK"));
  const starts = (await fake.starts()).length;
  assert.ok(starts >= 1 && starts <= 3, `${starts} ssh processes`);
  assert.ok(engine.maxOpen <= 3);
});

Deno.test("createConnector for ssh:// half-closes stdin and keeps reading; small read buffers keep the rest", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    const probe = await connection.readRequest();
    assert.equal(probe?.method, "HEAD");
    await connection.write(httpResponse(200));
    const parts: Uint8Array[] = [];
    while (true) {
      const piece = await connection.readSome();
      if (piece === null) break; // the client's closeWrite
      parts.push(piece);
    }
    await connection.write(`got:${parts.map((p) => decoder.decode(p)).join("")}:after-eof`);
  });
  await using fake = await fakeSsh("connect", engine);
  const connect = createConnector(parseHost("ssh://fake"), 10_000, { ssh: fake.ssh });
  const conn = await connect();
  try {
    await conn.write(encoder.encode("hello "));
    await conn.write(encoder.encode("world"));
    await conn.closeWrite();
    let text = "";
    const buffer = new Uint8Array(4);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      assert.ok(n <= 4);
      text += decoder.decode(buffer.subarray(0, n));
    }
    assert.equal(text, "got:hello world:after-eof");
  } finally {
    conn.close();
    conn.close(); // twice: never throws
    await connect.close?.();
  }
});

Deno.test("Docker over ssh:// reports ssh's stderr when it exits at once (Permission denied)", async () => {
  await using fake = await fakeSsh("deny");
  await using docker = new Docker({ host: "ssh://git@fake", ssh: fake.ssh, apiVersion: "1.41" });
  const error = await rejection(docker.system.ping());
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.equal(error.host, "ssh://git@fake");
  assert.match(
    error.message,
    /^Cannot connect to the Docker engine at ssh:\/\/git@fake: ssh exited with code 255: Permission denied \(publickey\)\.$/,
  );
});

Deno.test("Docker over ssh:// says when the ssh executable is missing", async () => {
  await using docker = new Docker({
    host: "ssh://fake",
    ssh: { command: "/nonexistent/berth-ssh" },
    apiVersion: "1.41",
  });
  const error = await rejection(docker.system.ping());
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.match(error.message, /\/nonexistent\/berth-ssh was not found; install the OpenSSH client/);
  assert.ok(error.cause instanceof Deno.errors.NotFound);
});

Deno.test("Docker over ssh:// applies connectTimeout to a process that never reaches the engine", async () => {
  await using fake = await fakeSsh("hang");
  await using docker = new Docker({
    host: "ssh://fake",
    ssh: fake.ssh,
    apiVersion: "1.41",
    connectTimeout: 700,
  });
  const started = performance.now();
  const error = await rejection(docker.system.ping());
  assert.ok(error instanceof DockerTimeoutError, String(error));
  assert.equal(error.phase, "connect");
  assert.match(error.message, /ssh did not reach the engine within 700 ms/);
  assert.ok(performance.now() - started < 5000);
});

Deno.test("Docker.close stops an ssh process still connecting and waits for its exit", async () => {
  await using fake = await fakeSsh("hang");
  const docker = new Docker({
    host: "ssh://fake",
    ssh: fake.ssh,
    apiVersion: "1.41",
    connectTimeout: 0,
  });
  const ping = rejection(docker.system.ping());
  const until = Date.now() + 10_000;
  while ((await fake.starts()).length === 0 && Date.now() < until) await sleep(20);
  const started = performance.now();
  await docker.close();
  assert.ok(performance.now() - started < 3000);
  const error = await ping;
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.match(error.message, /the client was closed/);
});

Deno.test("Docker over ssh:// rejects a remote command that does not speak HTTP", async () => {
  await using fake = await fakeSsh("chatty");
  await using docker = new Docker({ host: "ssh://fake", ssh: fake.ssh, apiVersion: "1.41" });
  const error = await rejection(docker.system.ping());
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.match(error.message, /did not answer HTTP.*Welcome to the machine/);
});

Deno.test("Docker over ssh:// retries once on a new process when the idle one died", async () => {
  // Each connection answers the probe and one call, then closes: the fake
  // ssh exits with it, as ssh does when the remote end goes away.
  await using engine = await startFakeEngine(async (connection) => {
    for (let i = 0; i < 2; i++) {
      const request = await connection.readRequest();
      if (!request) return;
      await connection.write(httpResponse(200, request.method === "HEAD" ? "" : "OK"));
    }
  });
  await using fake = await fakeSsh("connect", engine);
  await using docker = new Docker({ host: "ssh://fake", ssh: fake.ssh, apiVersion: "1.41" });
  assert.equal(await docker.system.ping(), "OK");
  await waitFor(() => engine.open === 0);
  await sleep(200); // let the process exit too (a live one would only test the EOF path)
  assert.equal(await docker.system.ping(), "OK");
  assert.equal((await fake.starts()).length, 2);
});

Deno.test("Docker rejects TLS options with an ssh:// host", () => {
  assert.throws(
    () => new Docker({ host: "ssh://fake", tls: { caCerts: ["x"] } }),
    (error: unknown) =>
      error instanceof TypeError && /TLS options do not apply to ssh:\/\//.test(error.message),
  );
});
