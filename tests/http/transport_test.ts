import assert from "node:assert/strict";
import { DockerConnectionError, DockerTimeoutError } from "../../src/errors.ts";
import {
  createConnector,
  type EngineAddress,
  formatHost,
  parseHost,
} from "../../src/http/transport.ts";
import { withDeadline } from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

Deno.test("parseHost reads unix, tcp, http and https hosts with default ports", () => {
  const cases: [string, EngineAddress][] = [
    ["unix:///var/run/docker.sock", { transport: "unix", path: "/var/run/docker.sock" }],
    ["unix:///run/user/1000/docker.sock", {
      transport: "unix",
      path: "/run/user/1000/docker.sock",
    }],
    ["tcp://10.0.0.2:2375", { transport: "tcp", hostname: "10.0.0.2", port: 2375, tls: undefined }],
    ["tcp://docker.example", {
      transport: "tcp",
      hostname: "docker.example",
      port: 2375,
      tls: undefined,
    }],
    ["tcp://localhost:1/", { transport: "tcp", hostname: "localhost", port: 1, tls: undefined }],
    ["http://127.0.0.1:8080", {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: 8080,
      tls: undefined,
    }],
    ["https://docker.example", {
      transport: "tcp",
      hostname: "docker.example",
      port: 2376,
      tls: {},
    }],
    ["https://10.0.0.2:65535", { transport: "tcp", hostname: "10.0.0.2", port: 65535, tls: {} }],
    ["tcp://[::1]:2375", { transport: "tcp", hostname: "::1", port: 2375, tls: undefined }],
    ["tcp://[fe80::1%25eth0]", {
      transport: "tcp",
      hostname: "fe80::1%25eth0",
      port: 2375,
      tls: undefined,
    }],
    ["https://[2001:db8::7]:3000", {
      transport: "tcp",
      hostname: "2001:db8::7",
      port: 3000,
      tls: {},
    }],
  ];
  for (const [host, expected] of cases) assert.deepEqual(parseHost(host), expected, host);
});

Deno.test("parseHost uses TLS for tcp:// when TLS material is given", () => {
  const tls = { caCerts: ["-----BEGIN CERTIFICATE-----"], serverName: "docker" };
  assert.deepEqual(parseHost("tcp://10.0.0.2", tls), {
    transport: "tcp",
    hostname: "10.0.0.2",
    port: 2376,
    tls,
  });
  assert.deepEqual(parseHost("tcp://10.0.0.2:2375", tls), {
    transport: "tcp",
    hostname: "10.0.0.2",
    port: 2375,
    tls,
  });
  assert.deepEqual(parseHost("https://h:1", tls), {
    transport: "tcp",
    hostname: "h",
    port: 1,
    tls,
  });
  // A plain http:// host never silently gains or loses TLS.
  assert.equal((parseHost("http://h:1", tls) as { tls: unknown }).tls, undefined);
});

Deno.test("parseHost throws TypeError on unsupported or malformed hosts", () => {
  for (
    const host of [
      "",
      "docker.sock",
      "/var/run/docker.sock",
      "unix://relative/docker.sock",
      "unix://",
      "npipe:////./pipe/docker_engine",
      "ftp://host:21",
      "tcp://",
      "tcp://:2375",
      "tcp://host:",
      "tcp://host:0",
      "tcp://host:65536",
      "tcp://host:99999",
      "tcp://host:123456",
      "tcp://host:port",
      "tcp://host:2375/path",
      "tcp://user:pass@host:2375",
      "tcp://::1:2375",
      "tcp://[::1",
      "TCP://host:2375",
      "tcp://host:2375?x=1",
    ]
  ) {
    assert.throws(() => parseHost(host), TypeError, JSON.stringify(host));
  }
});

Deno.test("parseHost reads ssh:// hosts with optional user and port, IPv6 in brackets", () => {
  const cases: [string, EngineAddress][] = [
    ["ssh://host", { transport: "ssh", hostname: "host" }],
    ["ssh://host/", { transport: "ssh", hostname: "host" }],
    ["ssh://me@host", { transport: "ssh", user: "me", hostname: "host" }],
    ["ssh://me@10.0.0.5:2222", { transport: "ssh", user: "me", hostname: "10.0.0.5", port: 2222 }],
    ["ssh://host.example:22", { transport: "ssh", hostname: "host.example", port: 22 }],
    ["ssh://root@[::1]:2222", { transport: "ssh", user: "root", hostname: "::1", port: 2222 }],
    ["ssh://[2001:db8::7]", { transport: "ssh", hostname: "2001:db8::7" }],
    ["ssh://first.last%40corp@h", { transport: "ssh", user: "first.last@corp", hostname: "h" }],
    // A path names the remote engine's socket (percent-decoded).
    [
      "ssh://me@h:2222/var/run/docker.sock",
      { transport: "ssh", user: "me", hostname: "h", port: 2222, path: "/var/run/docker.sock" },
    ],
    ["ssh://h/run/my%20engine/d.sock", {
      transport: "ssh",
      hostname: "h",
      path: "/run/my engine/d.sock",
    }],
  ];
  for (const [host, expected] of cases) assert.deepEqual(parseHost(host), expected, host);
});

Deno.test("formatHost gives an ssh:// address back, path included", () => {
  for (
    const host of [
      "ssh://me@h:2222/var/run/docker.sock",
      "ssh://h/run/my%20engine/d.sock",
      "ssh://[::1]",
    ]
  ) {
    assert.equal(formatHost(parseHost(host)), host);
  }
});

Deno.test("parseHost throws TypeError on malformed ssh:// hosts, passwords, bad paths, queries and TLS", () => {
  const cases: [string, RegExp][] = [
    ["ssh://", /expected ssh:\/\/\[user@\]host\[:port\]\[\/path\]/],
    ["ssh://user@", /expected ssh:/],
    ["ssh://@host", /user name is empty/],
    ["ssh://-oProxyCommand=x@host", /user name is empty or not valid/],
    ["ssh://-oProxyCommand=x", /host name is not valid/],
    ["ssh://user:secret@host", /passwords are not supported/],
    ["ssh://host/var/run/%0a.sock", /socket path has a control character/],
    ["ssh://host/%E0%A4%A", /not valid percent-encoding/],
    ["ssh://host?socket=/x", /no query or fragment/],
    ["ssh://host#x", /no query or fragment/],
    ["ssh://host:0", /port 0 is out of range/],
    ["ssh://host:65536", /out of range/],
    ["ssh://host:port", /expected ssh:/],
    ["ssh://::1", /expected ssh:/],
    ["ssh://[::1", /expected ssh:/],
    ["ssh://a b", /host name is not valid/],
    ["SSH://host", /expected unix:/],
  ];
  for (const [host, message] of cases) {
    assert.throws(() => parseHost(host), (error: unknown) => {
      assert.ok(error instanceof TypeError, host);
      assert.match(error.message, message, host);
      return true;
    });
  }
  // Nothing else tells ssh what to trust: TLS material is a mistake here.
  assert.throws(() => parseHost("ssh://host", {}), /TLS options do not apply/);
  // The secret never reaches the message.
  assert.throws(() => parseHost("ssh://user:secret@host"), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.ok(!error.message.includes("secret"), error.message);
    assert.match(error.message, /"ssh:\/\/user:<redacted>@host"/);
    return true;
  });
});

Deno.test("formatHost round-trips parsed addresses, bracketing IPv6", () => {
  for (
    const host of [
      "unix:///var/run/docker.sock",
      "tcp://10.0.0.2:2375",
      "https://docker.example:2376",
      "tcp://[::1]:2375",
      "https://[2001:db8::7]:3000",
      "ssh://host",
      "ssh://me@host",
      "ssh://me@10.0.0.5:2222",
      "ssh://root@[::1]:2222",
      "ssh://first.last%40corp@h",
    ]
  ) {
    assert.equal(formatHost(parseHost(host)), host);
  }
  assert.equal(formatHost(parseHost("tcp://h")), "tcp://h:2375");
  assert.equal(formatHost(parseHost("tcp://h", {})), "https://h:2376");
});

Deno.test("createConnector connects to a unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-transport-" });
  const path = `${dir}/engine.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const connect = createConnector(parseHost(`unix://${path}`), 1000);
    const [client, server] = await Promise.all([connect(), listener.accept()]);
    await client.write(new TextEncoder().encode("hi"));
    const buffer = new Uint8Array(2);
    assert.equal(await server.read(buffer), 2);
    client.close();
    server.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createConnector fails with DockerConnectionError naming a missing socket path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-transport-" });
  const host = `unix://${dir}/no-engine-here.sock`;
  try {
    const error = await rejection(createConnector(parseHost(host), 1000)());
    assert.ok(error instanceof DockerConnectionError, String(error));
    assert.equal(error.host, host);
    assert.ok(error.message.includes(`${dir}/no-engine-here.sock`), error.message);
    assert.match(error.message, /does not exist; is the engine running\?/);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createConnector fails with DockerConnectionError when the socket file has no listener", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-transport-" });
  const path = `${dir}/stale.sock`;
  // A socket file left behind by an engine that is gone.
  Deno.listen({ transport: "unix", path }).close();
  try {
    const error = await rejection(createConnector(parseHost(`unix://${path}`), 1000)());
    assert.ok(error instanceof DockerConnectionError, String(error));
    assert.ok(error.message.includes(path), error.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createConnector fails with DockerConnectionError on a refused TCP port", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const host = `tcp://127.0.0.1:${port}`;
  const error = await rejection(createConnector(parseHost(host), 1000)());
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.equal(error.host, host);
  assert.ok(error.message.includes(host), error.message);
  assert.match(error.message, /refused; is the engine running\?/);
  assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
});

Deno.test("createConnector fails with DockerTimeoutError phase connect and closes the late connection", async () => {
  // A listener that never accepts: once its accept queue is full the kernel
  // drops new SYNs, so the next connect hangs until the client gives up.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const host = `tcp://127.0.0.1:${listener.addr.port}`;
  const connect = createConnector(parseHost(host), 100);
  const filled: Deno.Conn[] = [];
  let timedOut: unknown;
  try {
    while (timedOut === undefined && filled.length < 10_000) {
      try {
        filled.push(await connect());
      } catch (error) {
        timedOut = error;
      }
    }
    assert.ok(timedOut instanceof DockerTimeoutError, String(timedOut));
    assert.equal(timedOut.phase, "connect");
    assert.equal(timedOut.timeout, 100);
    assert.ok(timedOut.message.includes(host), timedOut.message);
  } finally {
    for (const conn of filled) conn.close();
    // Accept the queue, then the attempt that timed out: its SYN is resent
    // (after about a second) and now completes, and the connector closes
    // that late socket at once. Reading every accepted socket to EOF proves
    // it, and lets the pending connect settle inside this test.
    const total = filled.length + (timedOut instanceof DockerTimeoutError ? 1 : 0);
    const buffer = new Uint8Array(64);
    for (let i = 0; i < total; i++) {
      const conn = await withDeadline(listener.accept(), 10_000, `accept #${i}`);
      while (
        await withDeadline(conn.read(buffer), 5_000, `EOF on #${i}`).catch(() => null) !== null
      ) {
        // Drain.
      }
      conn.close();
    }
    listener.close();
  }
});
