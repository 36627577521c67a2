import assert from "node:assert/strict";
import {
  collectFrames,
  DockerApiError,
  type DockerCallEvent,
  DockerConflictError,
  DockerConnectionError,
  DockerError,
  DockerNotFoundError,
  type EventMessage,
} from "../../mod.ts";
import { TEST_LABELS, testDocker, testImage, text, uniqueName, withContainer } from "./_docker.ts";

Deno.test("system.ping, version and info answer from the real engine", async () => {
  await using docker = testDocker();
  assert.equal(await docker.system.ping(), "OK");
  const version = await docker.system.version();
  assert.match(version.ApiVersion ?? "", /^1\.\d+$/);
  assert.equal(await docker.apiVersion(), "1.41");
  const info = await docker.system.info();
  assert.equal(typeof info.ID, "string");
  const ping = await docker.system.pingInfo({ method: "HEAD" });
  assert.equal(ping.apiVersion, version.ApiVersion);
  assert.equal(ping.osType, "linux");
  const df = await docker.system.df();
  assert.ok(Array.isArray(df.Images));
});

Deno.test("containers: create, start, wait, logs give exact stdout and stderr, remove", async () => {
  await using docker = testDocker();
  await withContainer(docker, {
    Cmd: ["sh", "-c", "printf 'out1\\nout2\\n'; printf 'err1\\n' >&2; printf 'out3'; exit 3"],
  }, async (id, name) => {
    const listed = await docker.containers.list({ all: true, filters: { name: [name] } });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.Id, id);
    assert.deepEqual(await docker.containers.start(id), { alreadyStarted: false });
    const { StatusCode } = await docker.containers.wait(id);
    assert.equal(StatusCode, 3);
    const { stdout, stderr } = await collectFrames(docker.containers.logs(id));
    assert.equal(text(stdout), "out1\nout2\nout3");
    assert.equal(text(stderr), "err1\n");
    const onlyErr = await collectFrames(docker.containers.logs(id, { stdout: false }));
    assert.equal(onlyErr.stdout.length, 0);
    assert.equal(text(onlyErr.stderr), "err1\n");
    const inspected = await docker.containers.inspect(id);
    assert.equal(inspected.State?.ExitCode, 3);
    assert.equal(inspected.Config?.Labels?.["berth.test"], "1");
  });
});

Deno.test("containers.logs of a TTY container is raw stdout", async () => {
  await using docker = testDocker();
  await withContainer(
    docker,
    { Tty: true, Cmd: ["sh", "-c", "echo tty-out; echo tty-err >&2"] },
    async (id) => {
      await docker.containers.start(id);
      await docker.containers.wait(id);
      const { stdout, stderr } = await collectFrames(docker.containers.logs(id));
      assert.equal(text(stdout), "tty-out\r\ntty-err\r\n");
      assert.equal(stderr.length, 0);
    },
  );
});

Deno.test("containers.logs demuxes 64 MiB of output with exact byte counts", async () => {
  await using docker = testDocker();
  const size = 64 * 1024 * 1024;
  await withContainer(docker, {
    Cmd: [
      "sh",
      "-c",
      `head -c ${size} /dev/zero | tr '\\0' 'a'; head -c 1000 /dev/zero | tr '\\0' 'b' >&2`,
    ],
  }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    let stdout = 0;
    let stderr = 0;
    let frames = 0;
    let wrong = 0;
    for await (const frame of docker.containers.logs(id, { tty: false })) {
      frames++;
      if (frame.stream === "stdout") {
        stdout += frame.data.length;
        if (frame.data[0] !== 97 || frame.data[frame.data.length - 1] !== 97) wrong++;
      } else if (frame.stream === "stderr") stderr += frame.data.length;
    }
    assert.equal(stdout, size);
    assert.equal(stderr, 1000);
    assert.equal(wrong, 0);
    // The engine stores output in 16 KiB log entries, one frame each.
    assert.ok(frames >= size / 16384, `${frames} frames`);
  });
});

Deno.test("containers.logs with reuseBuffer gives the same frames from one reused buffer", async () => {
  await using docker = testDocker();
  await withContainer(docker, {
    Cmd: ["sh", "-c", "seq 1 150000; seq 1 2000 >&2"],
  }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const read = async (reuseBuffer: boolean) => {
      const out: Record<string, Uint8Array[]> = { stdout: [], stderr: [] };
      const buffers = new Set<ArrayBufferLike>();
      for await (const frame of docker.containers.logs(id, { tty: false, reuseBuffer })) {
        buffers.add(frame.data.buffer);
        // Valid until the next read: keep a copy.
        out[frame.stream]!.push(frame.data.slice());
      }
      const joined = (pieces: Uint8Array[]) => pieces.map((piece) => text(piece)).join("");
      return { stdout: joined(out.stdout!), stderr: joined(out.stderr!), buffers: buffers.size };
    };
    const fresh = await read(false);
    const reused = await read(true);
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");
    assert.equal(fresh.stdout, lines(150_000));
    assert.equal(fresh.stderr, lines(2000));
    assert.equal(reused.stdout, fresh.stdout);
    assert.equal(reused.stderr, fresh.stderr);
    assert.ok(fresh.buffers > 8, `${fresh.buffers} buffers without reuse`);
    // Frames split across reads are joined into buffers of their own.
    assert.ok(reused.buffers < fresh.buffers / 4, `${reused.buffers} buffers with reuse`);
  });
});

Deno.test("system.events sees create, start, die and destroy of a labelled container, filters honoured", async () => {
  await using docker = testDocker();
  const marker = uniqueName("ev");
  const controller = new AbortController();
  const deadline = setTimeout(
    () => controller.abort(new Error("events missing after 20 s")),
    20_000,
  );
  const events = docker.system.events({
    filters: { type: ["container"], label: [`berth.marker=${marker}`] },
    signal: controller.signal,
  });
  // An unrelated container: the label filter must keep its events out.
  await withContainer(docker, { Cmd: ["true"] }, async (other) => {
    await docker.containers.start(other);
    await docker.containers.wait(other);
  });
  const seen: string[] = [];
  const reader = events.getReader();
  let id = "";
  const readUntil = async (action: string) => {
    while (!seen.includes(action)) {
      const { value, done } = await reader.read();
      if (done) break;
      const event = value as EventMessage;
      assert.equal(event.Actor?.ID, id);
      seen.push(event.Action ?? "");
    }
  };
  try {
    await withContainer(
      docker,
      { Cmd: ["true"], Labels: { "berth.marker": marker } },
      async (created) => {
        id = created;
        await docker.containers.start(id);
        await docker.containers.wait(id);
        await readUntil("die");
      },
    );
    await readUntil("destroy");
  } finally {
    clearTimeout(deadline);
    await reader.cancel();
  }
  assert.deepEqual(
    seen.filter((a) => ["create", "start", "die", "destroy"].includes(a)),
    ["create", "start", "die", "destroy"],
  );
});

Deno.test("errors: 404 is DockerNotFoundError, 409 DockerConflictError, empty id TypeError", async () => {
  await using docker = testDocker();
  const missing = uniqueName("missing");
  await assert.rejects(docker.containers.inspect(missing), (error: unknown) => {
    assert.ok(error instanceof DockerNotFoundError);
    assert.equal(error.status, 404);
    assert.match(
      error.message,
      new RegExp(`Cannot inspect container "${missing}": engine answered 404`),
    );
    assert.match(error.engineMessage, /No such container/);
    return true;
  });
  await withContainer(docker, { Cmd: ["sleep", "30"] }, async (id, name) => {
    await assert.rejects(
      docker.containers.create({ Image: testImage(), Labels: TEST_LABELS }, { name }),
      DockerConflictError,
    );
    await docker.containers.start(id);
    assert.deepEqual(await docker.containers.start(id), { alreadyStarted: true });
    await assert.rejects(docker.containers.remove(id), DockerConflictError);
  });
  // Bad ids fail through what the call returns, never at the call.
  await assert.rejects(docker.containers.inspect(""), TypeError);
  await assert.rejects(docker.containers.logs("..").getReader().read(), TypeError);
  // An id that tries to change the route stays one encoded segment; the
  // engine's router answers a redirect, which berth reports, never follows.
  await assert.rejects(docker.containers.inspect("a/../../info?x#y"), (error: unknown) => {
    assert.ok(error instanceof DockerApiError);
    assert.equal(error.status, 301);
    assert.match(error.path, /\/containers\/a%2F..%2F..%2Finfo%3Fx%23y\/json$/);
    return true;
  });
  await assert.rejects(docker.containers.inspect("x?all=1"), DockerNotFoundError);
});

Deno.test("an unreachable socket is a DockerConnectionError naming the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using docker = testDocker({ host: `unix://${dir}/nope.sock` });
    await assert.rejects(docker.system.ping(), (error: unknown) => {
      assert.ok(error instanceof DockerConnectionError);
      assert.ok(error instanceof DockerError);
      assert.match(error.message, new RegExp(`${dir}/nope.sock`));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("abort mid-stream rejects with the signal's reason and frees the connection", async () => {
  await using docker = testDocker();
  await withContainer(
    docker,
    { Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"] },
    async (id) => {
      await docker.containers.start(id);
      const controller = new AbortController();
      const reason = new Error("enough");
      const reader = docker.containers.logs(id, { follow: true, signal: controller.signal })
        .getReader();
      const first = await reader.read();
      assert.equal(first.done, false);
      controller.abort(reason);
      await assert.rejects(
        (async () => {
          while (!(await reader.read()).done) { /* drain until the abort lands */ }
        })(),
        (error) => error === reason,
      );
      // The client still works afterwards.
      assert.equal(await docker.system.ping(), "OK");
    },
  );
});

Deno.test("breaking out of a follow stream closes it; the client keeps working", async () => {
  await using docker = testDocker();
  await withContainer(
    docker,
    { Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"] },
    async (id) => {
      await docker.containers.start(id);
      let count = 0;
      for await (const frame of docker.containers.logs(id, { follow: true })) {
        assert.equal(text(frame.data), "tick\n");
        if (++count === 3) break;
      }
      assert.equal(count, 3);
      assert.equal(await docker.system.ping(), "OK");
    },
  );
});

Deno.test("close() fails what it cuts short with DockerConnectionError: a call on a socket, one queued for it, a follow stream", async () => {
  await using admin = testDocker();
  const command = ["sh", "-c", "while true; do echo tick; sleep 0.05; done"];
  await withContainer(admin, { Cmd: command }, async (id) => {
    await admin.containers.start(id);
    const docker = testDocker({ maxConnections: 1 });
    await docker.apiVersion();
    const reader = docker.containers.logs(id, { follow: true }).getReader();
    assert.equal(text((await reader.read()).value!.data), "tick\n");
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error) => error);
    const cut = {
      // The one counted socket: sh as PID 1 ignores SIGTERM, so the engine
      // waits out the 30 s before it kills.
      "the stop": failure(docker.containers.stop(id, { t: 30 })),
      "the ping queued for its socket": failure(docker.system.ping()),
      "the wait (not counted)": failure(docker.containers.wait(id)),
      "the follow stream": failure((async () => {
        while (!(await reader.read()).done);
      })()),
    };
    await new Promise((resolve) => setTimeout(resolve, 100));
    await docker.close();
    for (const [what, outcome] of Object.entries(cut)) {
      const error = await outcome;
      assert.ok(error instanceof DockerConnectionError, `${what}: ${error}`);
      assert.match(error.message, /the client was closed/);
    }
    const later = await failure(docker.system.ping());
    assert.ok(later instanceof DockerError && !(later instanceof DockerConnectionError));
    assert.match(later.message, /the client is closed/);
    // The engine goes on with the stop it was asked for: still in its grace period.
    assert.equal((await admin.containers.inspect(id)).State?.Running, true);
  });
});

Deno.test("observer sees each call with method, path, status, times and sizes", async () => {
  const events: DockerCallEvent[] = [];
  await using docker = testDocker({ observer: (event) => events.push(event) });
  await docker.system.ping();
  await docker.system.version();
  await assert.rejects(docker.containers.inspect(uniqueName("nope")), DockerNotFoundError);
  const ping = events.find((e) => e.path === "/_ping")!;
  assert.equal(ping.method, "GET");
  assert.equal(ping.status, 200);
  assert.ok(ping.endTime >= ping.startTime);
  assert.ok(ping.bytesSent > 0 && ping.bytesReceived > 0);
  const failed = events.find((e) => e.status === 404)!;
  assert.match(failed.path, /^\/v1\.41\/containers\//);
  assert.ok(events.some((e) => e.reusedConnection));
});

Deno.test("observer records an upgraded call when its session ends, with the session's bytes", async (t) => {
  for (const worker of [false, true]) {
    await t.step(worker ? "exec session in a worker" : "exec session on this thread", async () => {
      const events: DockerCallEvent[] = [];
      await using docker = testDocker({ observer: (event) => events.push(event) });
      await withContainer(docker, { Cmd: ["sleep", "60"] }, async (id) => {
        await docker.containers.start(id);
        // 300,000 bytes out, 100,000 in.
        const { stdout, exitCode } = await docker.exec.run(
          id,
          ["sh", "-c", "wc -c >/dev/null; head -c 300000 /dev/zero"],
          { stdin: new Uint8Array(100_000), worker },
        );
        assert.equal(exitCode, 0);
        assert.equal(stdout.length, 300_000);
        const start = events.find((e) => /\/exec\/[^/]+\/start$/.test(e.path));
        assert.ok(start, events.map((e) => e.path).join(", "));
        assert.equal(start.status, 101);
        assert.ok(start.bytesReceived > 300_000, `received ${start.bytesReceived}`);
        assert.ok(start.bytesSent > 100_000, `sent ${start.bytesSent}`);
        assert.ok(start.endTime >= start.startTime);
      });
    });
  }
});

Deno.test("a stream call returns at once; an HTTP error rejects its first read", async () => {
  await using docker = testDocker();
  const missing = uniqueName("nolog");
  const stream = docker.containers.logs(missing, { tty: false });
  assert.ok(stream instanceof ReadableStream);
  const reader = stream.getReader();
  await assert.rejects(reader.read(), (error: unknown) => {
    assert.ok(error instanceof DockerNotFoundError);
    assert.match(error.message, new RegExp(`Cannot read logs of container "${missing}"`));
    return true;
  });
});

Deno.test("time options accept Dates, seconds, durations and RFC 3339, as the engine needs seconds", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["sh", "-c", "echo one"] }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    for (
      const since of ["10m", new Date(Date.now() - 600_000).toISOString(), Date.now() / 1000 - 600]
    ) {
      const { stdout } = await collectFrames(docker.containers.logs(id, { since, tty: false }));
      assert.equal(text(stdout), "one\n", `since ${since}`);
    }
    const { stdout } = await collectFrames(docker.containers.logs(id, { until: "1h", tty: false }));
    assert.equal(text(stdout), "");
    const events: unknown[] = [];
    for await (const event of docker.system.events({ since: "1m", until: "0s" })) {
      events.push(event);
    }
    assert.ok(events.length > 0);
  });
  await assert.rejects(
    docker.containers.logs("x", { since: "yesterday-ish" }).getReader().read(),
    TypeError,
  );
});

Deno.test("logs of a missing container reject the first read and leave no unhandled rejection", async () => {
  await using docker = testDocker();
  // No `tty`: the TTY lookup fails too, and must not escape as unhandled.
  const reader = docker.containers.logs(uniqueName("gone")).getReader();
  await assert.rejects(reader.read(), DockerNotFoundError);
  await new Promise((resolve) => setTimeout(resolve, 50));
});

Deno.test("200 concurrent calls all settle through a 16-connection pool, never sharing a busy socket", async () => {
  const calls: DockerCallEvent[] = [];
  await using docker = testDocker({ maxConnections: 16, observer: (call) => calls.push(call) });
  await docker.apiVersion();
  const results = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) => i % 2 ? docker.system.ping() : docker.system.version().then((v) => v.ApiVersion),
    ),
  );
  assert.equal(results.length, 200);
  assert.ok(results.every((r) => r === "OK" || /^1\.\d+$/.test(r ?? "")));
  const done = calls.filter((c) => c.path === "/_ping" || c.path.endsWith("/version"));
  assert.ok(done.length >= 200);
  assert.ok(done.every((c) => c.status === 200 && c.error === undefined));
  // A call opens a socket only when it holds one of the 16 slots and no idle
  // socket is free, so at most 16 sockets were ever opened for all 201 calls.
  const fresh = calls.filter((c) => !c.reusedConnection).length;
  assert.ok(fresh <= 16, `${fresh} sockets opened`);
  assert.ok(fresh >= 2, `${fresh} sockets opened: the calls did not overlap`);
});
