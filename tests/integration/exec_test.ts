/**
 * `docker.exec` against the real test engine: run with stdin and split
 * output, exit codes, TTY sessions and resize, detached starts, and the
 * not-found, conflict and empty-id answers of every method.
 */

import assert from "node:assert/strict";
import {
  type Docker,
  DockerConflictError,
  DockerNotFoundError,
  DockerOutputLimitError,
  type Frame,
} from "../../mod.ts";
import { testDocker, text, uniqueName, withContainer } from "./_docker.ts";
import { abortAtSecondFrame } from "./_session.ts";

const encoder = new TextEncoder();

/** Runs `fn` with a started `sleep` container. */
function withRunning<T>(docker: Docker, fn: (id: string) => Promise<T>): Promise<T> {
  return withContainer(docker, { Cmd: ["sleep", "60"] }, async (id) => {
    await docker.containers.start(id);
    return await fn(id);
  });
}

/** Polls an exec until the engine reports it finished, and returns its exit code. */
async function exitCodeOf(docker: Docker, id: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = await docker.exec.inspect(id);
    if (!state.Running && typeof state.ExitCode === "number") return state.ExitCode;
    if (Date.now() > deadline) throw new Error(`exec ${id} still running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads TTY output until `pattern` matches the text so far (or the stream ends). */
async function readUntil(
  reader: ReadableStreamDefaultReader<Frame>,
  pattern: RegExp,
): Promise<string> {
  const decoder = new TextDecoder();
  let seen = "";
  while (!pattern.test(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value.data, { stream: true });
  }
  return seen;
}

Deno.test("Exec methods reject an empty or dot id with TypeError before any I/O", async (t) => {
  // An unroutable host: any I/O would fail with a connection error, not a TypeError.
  await using docker = testDocker({ host: "unix:///nonexistent/berth.sock" });
  const e = docker.exec;
  const calls: Record<string, (id: string) => unknown> = {
    create: (id) => e.create(id, { Cmd: ["true"] }),
    start: (id) => e.start(id),
    "start (detached)": (id) => e.start(id, { detach: true }),
    resize: (id) => e.resize(id, { h: 24, w: 80 }),
    inspect: (id) => e.inspect(id),
    run: (id) => e.run(id, ["true"]),
  };
  for (const [method, call] of Object.entries(calls)) {
    await t.step(method, async () => {
      for (const id of ["", " ", ".", ".."]) {
        await assert.rejects(
          async () => await call(id),
          TypeError,
          `${method}(${JSON.stringify(id)})`,
        );
      }
    });
  }
  await t.step("create with an empty Cmd", async () => {
    await assert.rejects(async () => await e.create("c", { Cmd: [] }), TypeError);
  });
});

Deno.test("Exec.run feeds stdin, closes it, and returns exit code and output", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const counted = await docker.exec.run(id, ["wc", "-c"], { stdin: "hello" });
    assert.equal(counted.exitCode, 0);
    assert.equal(text(counted.stdout).trim(), "5");
    assert.equal(counted.stderr.length, 0);

    // A larger body as a stream, through the half-closed socket.
    const big = new Uint8Array(300_000).fill(0x61);
    const streamed = await docker.exec.run(id, ["wc", "-c"], {
      stdin: ReadableStream.from([big, big]),
    });
    assert.equal(text(streamed.stdout).trim(), "600000");
  });
});

Deno.test("Exec.run splits stdout from stderr and reports a non-zero exit code", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const result = await docker.exec.run(id, ["sh", "-c", "echo o; echo e >&2; exit 7"]);
    assert.equal(result.exitCode, 7);
    assert.equal(text(result.stdout), "o\n");
    assert.equal(text(result.stderr), "e\n");

    const env = await docker.exec.run(
      id,
      ["sh", "-c", 'echo "$GREETING from $(pwd) as $(id -u)"'],
      {
        env: ["GREETING=hi"],
        workingDir: "/tmp",
        user: "65534",
      },
    );
    assert.equal(text(env.stdout), "hi from /tmp as 65534\n");
  });
});

Deno.test("Exec.run fails with DockerOutputLimitError past maxOutput, and stops reading", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    // 100,000 bytes on stdout and 6 on stderr.
    const cmd = ["sh", "-c", "head -c 100000 /dev/zero; echo error >&2"];
    const error = await docker.exec.run(id, cmd, { maxOutput: 50_000 })
      .then(() => undefined, (error) => error);
    assert.ok(error instanceof DockerOutputLimitError, String(error));
    assert.equal(error.limit, 50_000);
    assert.match(error.message, /^Cannot hold the output of exec "[0-9a-f]{64}" in container/);
    const fits = await docker.exec.run(id, cmd, { maxOutput: 100_006 });
    assert.deepEqual([fits.exitCode, fits.stdout.length, text(fits.stderr)], [
      0,
      100_000,
      "error\n",
    ]);
    // A TTY's merged output counts the same way.
    await assert.rejects(
      docker.exec.run(id, ["head", "-c", "100000", "/dev/zero"], { tty: true, maxOutput: 1000 }),
      DockerOutputLimitError,
    );
  });
});

Deno.test("Exec.run with a TTY merges output into stdout", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const result = await docker.exec.run(id, ["sh", "-c", "echo o; echo e >&2; exit 3"], {
      tty: true,
    });
    assert.equal(result.exitCode, 3);
    assert.equal(text(result.stdout), "o\r\ne\r\n");
    assert.equal(result.stderr.length, 0);
  });
});

/**
 * Starts `sh` in a TTY exec with a console size, resizes it through the
 * session and through `exec.resize`, and checks `stty size` sees each, then
 * the exit code and the inspect state.
 */
async function checkTtyResize(docker: Docker, containerId: string): Promise<void> {
  const { Id } = await docker.exec.create(containerId, {
    Cmd: ["sh"],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    Env: ["PS1=$ "],
  });
  await using session = await docker.exec.start(Id, { tty: true, consoleSize: [33, 101] });
  assert.equal(session.id, Id);
  const writer = session.writable.getWriter();
  const reader = session.readable.getReader();
  try {
    await writer.write(encoder.encode("stty size\n"));
    assert.match(await readUntil(reader, /33 101/), /33 101/);

    await session.resize(40, 120);
    await writer.write(encoder.encode("stty size\n"));
    assert.match(await readUntil(reader, /40 120/), /40 120/);

    await docker.exec.resize(Id, { h: 12, w: 34 });
    await writer.write(encoder.encode("stty size; exit 5\n"));
    assert.match(await readUntil(reader, /12 34/), /12 34/);
    // The shell exits: the output ends.
    while (!(await reader.read()).done) { /* drain */ }
  } finally {
    reader.releaseLock();
    writer.releaseLock();
  }
  assert.equal(await exitCodeOf(docker, Id), 5);
  const state = await docker.exec.inspect(Id);
  assert.equal(state.ProcessConfig?.tty, true);
  assert.equal(state.ContainerID, containerId);
}

Deno.test("Exec.start with a TTY: resize is seen by stty size in the session", async () => {
  await using docker = testDocker();
  await withRunning(docker, (containerId) => checkTtyResize(docker, containerId));
});

for (const worker of [false, true]) {
  Deno.test(`Exec.start ${worker ? "in a worker" : "on this thread"}: a signal abort closes the session and fails its reads and writes with signal.reason`, async () => {
    await using docker = testDocker();
    await withRunning(docker, async (containerId) => {
      const { Id } = await docker.exec.create(containerId, {
        Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
        AttachStdin: true,
        AttachStdout: true,
      });
      const controller = new AbortController();
      await using session = await docker.exec.start(Id, { signal: controller.signal, worker });
      await abortAtSecondFrame(session, controller);
    });
  });
}

Deno.test("Exec.start detached returns at once; inspect follows the process to its exit code", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (containerId) => {
    const { Id } = await docker.exec.create(containerId, {
      Cmd: ["sh", "-c", "sleep 0.5; exit 4"],
    });
    const before = await docker.exec.inspect(Id);
    assert.equal(before.Running, false);
    assert.equal(before.ID, Id);

    await docker.exec.start(Id, { detach: true });
    const during = await docker.exec.inspect(Id);
    assert.equal(during.Running, true);
    assert.ok((during.Pid ?? 0) > 0, "a running exec has a pid");

    assert.equal(await exitCodeOf(docker, Id), 4);

    // An exec runs once: starting it again is refused.
    await assert.rejects(docker.exec.start(Id, { detach: true }), DockerConflictError);
  });
});

Deno.test("Exec.create and Exec.run throw DockerConflictError for a stopped container", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["true"] }, async (id) => {
    const error = await docker.exec.create(id, { Cmd: ["true"] }).catch((e) => e);
    assert.ok(error instanceof DockerConflictError, String(error));
    assert.equal(error.status, 409);
    assert.match(error.engineMessage, /is not running/);
    await assert.rejects(docker.exec.run(id, ["true"]), DockerConflictError);
  });
});

Deno.test("Exec.create and Exec.run throw DockerNotFoundError for a missing container", async () => {
  await using docker = testDocker();
  const missing = uniqueName("nobody");
  await assert.rejects(docker.exec.create(missing, { Cmd: ["true"] }), DockerNotFoundError);
  await assert.rejects(docker.exec.run(missing, ["true"]), DockerNotFoundError);
});

Deno.test("Exec start, resize and inspect throw DockerNotFoundError for a missing exec id", async () => {
  await using docker = testDocker();
  const missing = "0".repeat(64);
  const error = await docker.exec.inspect(missing).catch((e) => e);
  assert.ok(error instanceof DockerNotFoundError, String(error));
  assert.match(error.message, /inspect exec/);
  await assert.rejects(docker.exec.start(missing, { detach: true }), DockerNotFoundError);
  await assert.rejects(docker.exec.start(missing), DockerNotFoundError);
  await assert.rejects(docker.exec.resize(missing, { h: 24, w: 80 }), DockerNotFoundError);
});

Deno.test("Exec sessions in a worker: run and start give the same results as on this thread", async () => {
  await using docker = testDocker({ workers: { size: 1 } });
  await withRunning(docker, async (containerId) => {
    // Stdin through the worker (copied chunks, half-close), byte counts exact.
    const big = new Uint8Array(300_000).fill(0x61);
    const counted = await docker.exec.run(containerId, ["wc", "-c"], {
      stdin: ReadableStream.from([big, big, encoder.encode("tail")]),
    });
    assert.equal(counted.exitCode, 0);
    assert.equal(text(counted.stdout).trim(), "600004");

    const split = await docker.exec.run(containerId, ["sh", "-c", "echo o; echo e >&2; exit 7"]);
    assert.deepEqual([split.exitCode, text(split.stdout), text(split.stderr)], [7, "o\n", "e\n"]);

    const tty = await docker.exec.run(containerId, ["sh", "-c", "echo o; echo e >&2"], {
      tty: true,
    });
    assert.deepEqual([text(tty.stdout), tty.stderr.length], ["o\r\ne\r\n", 0]);

    // The same output with `worker: false` on this client.
    const here = await docker.exec.run(containerId, ["sh", "-c", "seq 1 20000; echo x >&2"], {
      worker: false,
    });
    const there = await docker.exec.run(containerId, ["sh", "-c", "seq 1 20000; echo x >&2"]);
    assert.deepEqual(there.stdout, here.stdout);
    assert.deepEqual(there.stderr, here.stderr);

    // An interactive TTY session: resizes from this thread, seen in the worker's session.
    await checkTtyResize(docker, containerId);
  });
  await assert.rejects(() => docker.exec.start(uniqueName("missing-exec")), DockerNotFoundError);
});
