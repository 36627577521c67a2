/**
 * `docker.containers` against the real test engine: every method's success,
 * its not-found or conflict answer, and its empty-id check.
 */

import assert from "node:assert/strict";
import {
  collectFrames,
  type ContainerStats,
  type Docker,
  DockerApiError,
  DockerConflictError,
  DockerNotFoundError,
  DockerOutputLimitError,
} from "../../mod.ts";
import { readTar, tarStream } from "../../src/stream/tar.ts";
import { UnsafeArchiveError } from "../../src/stream/extract.ts";
import { TEST_LABELS, testDocker, testImage, text, uniqueName, withContainer } from "./_docker.ts";

const encoder = new TextEncoder();

/** Runs `fn` with a started `sleep` container. */
function withRunning<T>(
  docker: Docker,
  fn: (id: string, name: string) => Promise<T>,
  cmd: string[] = ["sleep", "60"],
): Promise<T> {
  return withContainer(docker, { Cmd: cmd }, async (id, name) => {
    await docker.containers.start(id);
    return await fn(id, name);
  });
}

/** Reads all of a byte stream. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Calls a method and expects a rejection (or a throw) of `type`. */
async function expectError(
  call: () => unknown,
  type: new (...args: never[]) => Error,
): Promise<void> {
  await assert.rejects(async () => {
    const result = await call();
    // Streams fail on their first read.
    if (result instanceof ReadableStream) await result.getReader().read();
  }, type);
}

/**
 * `containers.prune`, retried while the engine runs another prune (it allows
 * one at a time, of any kind), which happens when test runs share an engine.
 */
async function prune(
  docker: Docker,
  options: Parameters<Docker["containers"]["prune"]>[0],
): ReturnType<Docker["containers"]["prune"]> {
  for (let attempt = 1;; attempt++) {
    try {
      return await docker.containers.prune(options);
    } catch (error) {
      if (!(error instanceof DockerConflictError) || attempt === 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

Deno.test("Containers methods reject an empty id with TypeError before any I/O", async (t) => {
  await using docker = testDocker();
  const c = docker.containers;
  const calls: Record<string, (id: string) => unknown> = {
    inspect: (id) => c.inspect(id),
    start: (id) => c.start(id),
    wait: (id) => c.wait(id),
    logs: (id) => c.logs(id, { tty: false }),
    remove: (id) => c.remove(id),
    top: (id) => c.top(id),
    changes: (id) => c.changes(id),
    export: (id) => c.export(id),
    stats: (id) => c.stats(id),
    statsStream: (id) => c.statsStream(id),
    resize: (id) => c.resize(id, { h: 10, w: 10 }),
    stop: (id) => c.stop(id),
    restart: (id) => c.restart(id),
    kill: (id) => c.kill(id),
    update: (id) => c.update(id, { CpuShares: 512 }),
    rename: (id) => c.rename(id, "new-name"),
    pause: (id) => c.pause(id),
    unpause: (id) => c.unpause(id),
    attach: (id) => c.attach(id, { tty: false }),
    attachWebSocket: (id) => c.attachWebSocket(id),
    statPath: (id) => c.statPath(id, "/"),
    getArchive: (id) => c.getArchive(id, "/"),
    extractArchive: (id) => c.extractArchive(id, "/", "/tmp/never"),
    putArchive: (id) => c.putArchive(id, "/", new Uint8Array(1024)),
  };
  for (const [name, call] of Object.entries(calls)) {
    await t.step(name, async () => {
      for (const id of ["", " ", ".", ".."]) {
        // Through the promise, or the stream's first read: never at the call.
        await assert.rejects(
          async () => {
            const result = await call(id);
            if (result instanceof ReadableStream) await result.getReader().read();
          },
          TypeError,
          `${name}(${JSON.stringify(id)})`,
        );
      }
    });
  }
  await t.step("other bad arguments", async () => {
    await withContainer(docker, {}, async (id) => {
      await assert.rejects(async () => await c.rename(id, ""), TypeError);
      await assert.rejects(async () => await c.statPath(id, ""), TypeError);
      await assert.rejects(async () => await c.resize(id, { h: 0, w: 10 }), RangeError);
      await assert.rejects(async () => await c.stop(id, { t: 1.5 }), RangeError);
      // @ts-expect-error: stats returns one sample; a stream is statsStream.
      await assert.rejects(async () => await c.stats(id, { stream: true }), TypeError);
      await assert.rejects(
        async () => await c.run({ Image: testImage() }, { wait: false, remove: true }),
        TypeError,
      );
    });
  });
});

Deno.test("Containers methods answer DockerNotFoundError for a missing container", async (t) => {
  await using docker = testDocker();
  const c = docker.containers;
  const missing = uniqueName("missing");
  const calls: Record<string, () => unknown> = {
    inspect: () => c.inspect(missing),
    top: () => c.top(missing),
    changes: () => c.changes(missing),
    export: () => c.export(missing),
    stats: () => c.stats(missing, { oneShot: true }),
    statsStream: () => c.statsStream(missing),
    resize: () => c.resize(missing, { h: 10, w: 10 }),
    stop: () => c.stop(missing),
    restart: () => c.restart(missing),
    kill: () => c.kill(missing),
    update: () => c.update(missing, { CpuShares: 512 }),
    rename: () => c.rename(missing, uniqueName("other")),
    pause: () => c.pause(missing),
    unpause: () => c.unpause(missing),
    wait: () => c.wait(missing),
    remove: () => c.remove(missing),
    attach: () => c.attach(missing, { tty: false }),
    attachWebSocket: () => c.attachWebSocket(missing),
    statPath: () => c.statPath(missing, "/"),
    getArchive: () => c.getArchive(missing, "/"),
    extractArchive: () => c.extractArchive(missing, "/", "/tmp/berth-never-written"),
    putArchive: () => c.putArchive(missing, "/tmp", tarStream([])),
  };
  for (const [name, call] of Object.entries(calls)) {
    await t.step(name, () => expectError(call, DockerNotFoundError));
  }
  await t.step("a missing path answers 404 too", async () => {
    await withContainer(docker, {}, async (id) => {
      await expectError(() => c.statPath(id, "/no/such/path"), DockerNotFoundError);
      await expectError(() => c.getArchive(id, "/no/such/path"), DockerNotFoundError);
      await expectError(() => c.putArchive(id, "/no/such/dir", tarStream([])), DockerNotFoundError);
    });
  });
  await t.step("run with a missing image", async () => {
    await expectError(
      () =>
        c.run({
          Image: `berth-test/missing-${crypto.randomUUID()}:latest`,
          Labels: { ...TEST_LABELS },
        }),
      DockerNotFoundError,
    );
  });
});

Deno.test("Containers methods answer DockerConflictError when the state does not allow them", async (t) => {
  await using docker = testDocker();
  const c = docker.containers;
  // A created container is not running.
  await withContainer(docker, { Cmd: ["sleep", "60"] }, async (id, name) => {
    await t.step("top, kill, pause, resize need a running container", async () => {
      await expectError(() => c.top(id), DockerConflictError);
      await expectError(() => c.kill(id), DockerConflictError);
      await expectError(() => c.pause(id), DockerConflictError);
      await expectError(() => c.resize(id, { h: 10, w: 10 }), DockerConflictError);
    });
    await t.step("pause refuses a paused container; unpause needs one", async () => {
      await c.start(id);
      await c.pause(id);
      await expectError(() => c.pause(id), DockerConflictError);
      await c.unpause(id);
      // Engine 20.10 answers 500 here, not 409.
      await expectError(() => c.unpause(id), DockerApiError);
    });
    await t.step("remove refuses a running container", async () => {
      await expectError(() => c.remove(id), DockerConflictError);
    });
    await t.step("rename refuses a name in use", async () => {
      await withContainer(docker, {}, async (otherId) => {
        await expectError(() => c.rename(otherId, name), DockerConflictError);
      });
    });
  });
});

Deno.test("a container's name as the engine gives it (a leading /) works as an id", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["sleep", "60"] }, async (id, name) => {
    const [listed] = await docker.containers.list({ all: true, filters: { id: [id] } });
    const engineName = listed!.Names![0]!;
    assert.equal(engineName, `/${name}`);
    assert.equal((await docker.containers.inspect(engineName)).Id, id);
    await docker.containers.start(engineName);
    await docker.containers.stop(engineName, { t: 0 });
  });
});

Deno.test("containers.top lists the running process, with ps_args", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    // Right after the start the process may not have exec'd `sleep` yet
    // (runc's init shows instead): ask again for a little while.
    let full = await docker.containers.top(id);
    const showsSleep = () =>
      full.Processes?.some((row) => row.some((cell) => cell.includes("sleep 60"))) === true;
    for (let tries = 0; !showsSleep() && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      full = await docker.containers.top(id);
    }
    assert.ok(full.Titles?.includes("PID"), JSON.stringify(full.Titles));
    assert.ok(showsSleep(), JSON.stringify(full.Processes));
    const short = await docker.containers.top(id, { psArgs: "-o pid,comm" });
    assert.deepEqual(short.Titles, ["PID", "COMMAND"]);
    assert.deepEqual(short.Processes?.map((row) => row[1]), ["sleep"]);
  });
});

Deno.test("containers.changes reports added and changed paths (empty list when none)", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["true"] }, async (id) => {
    assert.deepEqual(await docker.containers.changes(id), []);
  });
  await withContainer(docker, { Cmd: ["sh", "-c", "echo x > /tmp/berth-added"] }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const changes = await docker.containers.changes(id);
    assert.deepEqual(changes.find((item) => item.Path === "/tmp/berth-added"), {
      Path: "/tmp/berth-added",
      Kind: 1,
    });
    assert.deepEqual(changes.find((item) => item.Path === "/tmp"), { Path: "/tmp", Kind: 0 });
  });
});

Deno.test("containers.export streams a tar of the filesystem that holds bin/busybox", async () => {
  await using docker = testDocker();
  await withContainer(docker, {}, async (id) => {
    const names: string[] = [];
    for await (const entry of readTar(docker.containers.export(id))) {
      names.push(entry.name);
      await entry.body.cancel();
    }
    assert.ok(names.includes("bin/busybox"), names.slice(0, 20).join(", "));
  });
});

Deno.test("containers.stats gives one sample; statsStream yields samples with memory and CPU", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const checkSample = (sample: ContainerStats) => {
      assert.equal(typeof sample.read, "string");
      assert.equal(typeof sample.memory_stats?.usage, "number");
      assert.equal(typeof sample.cpu_stats?.cpu_usage?.total_usage, "number");
      assert.equal(sample.id, id);
    };
    checkSample(await docker.containers.stats(id, { oneShot: true }));
    checkSample(await docker.containers.stats(id, { stream: false, oneShot: true }));
    const samples: ContainerStats[] = [];
    const stream = docker.containers.statsStream(id);
    for await (const sample of stream) {
      samples.push(sample);
      if (samples.length === 3) break; // closes the connection
    }
    assert.equal(samples.length, 3);
    samples.forEach(checkSample);
    assert.ok(new Date(samples[2]!.read!) > new Date(samples[0]!.read!));
    assert.ok(
      samples[2]!.cpu_stats!.cpu_usage!.total_usage! >=
        samples[0]!.cpu_stats!.cpu_usage!.total_usage!,
    );
  });
});

Deno.test("containers.statsStream stops with the signal's reason when aborted", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const controller = new AbortController();
    const reason = new Error("enough samples");
    let count = 0;
    await assert.rejects(async () => {
      for await (const _ of docker.containers.statsStream(id, { signal: controller.signal })) {
        if (++count === 1) controller.abort(reason);
      }
    }, (error) => error === reason);
    assert.equal(count, 1);
  });
});

Deno.test("containers.logs with follow delivers later lines in order and ends when the container stops", async () => {
  await using docker = testDocker();
  // The container prints only once /tmp/go exists, which is created after the logs call began.
  const script =
    "while [ ! -f /tmp/go ]; do sleep 0.05; done; for i in 1 2 3 4 5; do echo line-$i; sleep 0.05; done";
  await withContainer(docker, { Cmd: ["sh", "-c", script] }, async (id) => {
    await docker.containers.start(id);
    const stream = docker.containers.logs(id, { follow: true });
    const lines: string[] = [];
    const reading = (async () => {
      for await (const frame of stream) lines.push(...text(frame.data).split("\n").filter(Boolean));
    })();
    assert.deepEqual(lines, []);
    const touched = await docker.exec.run(id, ["touch", "/tmp/go"]);
    assert.equal(touched.exitCode, 0);
    await reading; // ends by itself once the container exits
    assert.deepEqual(lines, ["line-1", "line-2", "line-3", "line-4", "line-5"]);
    assert.equal((await docker.containers.inspect(id)).State?.Running, false);
  });
});

Deno.test("containers.logs with details prefixes each line with the attributes the log driver adds", async () => {
  await using docker = testDocker();
  const body = {
    Cmd: ["sh", "-c", "echo out; echo err >&2"],
    Labels: { "berth.detail": "d1" },
    HostConfig: { LogConfig: { Type: "json-file", Config: { labels: "berth.detail" } } },
  };
  await withContainer(docker, body, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const read = async (details: boolean) => {
      const { stdout, stderr } = await collectFrames(docker.containers.logs(id, { details }));
      return [text(stdout), text(stderr)];
    };
    assert.deepEqual(await read(true), ["berth.detail=d1 out\n", "berth.detail=d1 err\n"]);
    assert.deepEqual(await read(false), ["out\n", "err\n"]);
  });
});

Deno.test("containers lifecycle: pause, unpause, kill, restart, stop are seen in inspect", async (t) => {
  await using docker = testDocker();
  const c = docker.containers;
  const script = "trap 'echo got-usr1' USR1; while :; do sleep 0.05; done";
  await withContainer(docker, { Cmd: ["sh", "-c", script] }, async (id) => {
    await c.start(id);
    await t.step("pause and unpause", async () => {
      await c.pause(id);
      assert.equal((await c.inspect(id)).State?.Status, "paused");
      assert.equal((await c.inspect(id)).State?.Paused, true);
      await c.unpause(id);
      assert.equal((await c.inspect(id)).State?.Status, "running");
    });
    await t.step("kill with a signal the process traps", async () => {
      await c.kill(id, { killSignal: "SIGUSR1" });
      const deadline = Date.now() + 5000;
      let output = "";
      while (!output.includes("got-usr1") && Date.now() < deadline) {
        output = text((await collectFrames(c.logs(id, { tty: false }))).stdout);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.match(output, /got-usr1/);
      assert.equal((await c.inspect(id)).State?.Running, true);
    });
    await t.step("restart gives a new process", async () => {
      const before = (await c.inspect(id)).State;
      await c.restart(id, { t: 0 });
      const after = (await c.inspect(id)).State;
      assert.equal(after?.Running, true);
      assert.notEqual(after?.Pid, before?.Pid);
      assert.notEqual(after?.StartedAt, before?.StartedAt);
    });
    await t.step("kill with the default SIGKILL", async () => {
      await c.kill(id);
      const { StatusCode } = await c.wait(id);
      assert.equal(StatusCode, 137);
      assert.equal((await c.inspect(id)).State?.Status, "exited");
    });
    await t.step("stop a stopped container answers alreadyStopped", async () => {
      assert.deepEqual(await c.stop(id), { alreadyStopped: true });
    });
    await t.step("restart starts a stopped container; stop stops it", async () => {
      await c.restart(id, { t: 0 });
      assert.equal((await c.inspect(id)).State?.Running, true);
      assert.deepEqual(await c.stop(id, { t: 0 }), { alreadyStopped: false });
      assert.equal((await c.inspect(id)).State?.Running, false);
    });
  });
});

Deno.test("containers.wait: condition next-exit and removed", async () => {
  await using docker = testDocker();
  await withRunning(docker, async (id) => {
    const exited = docker.containers.wait(id, { condition: "next-exit" });
    // Give the engine a moment to register the wait before the exit.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await docker.containers.kill(id);
    assert.equal((await exited).StatusCode, 137);
    const removed = docker.containers.wait(id, { condition: "removed" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await docker.containers.remove(id);
    assert.equal((await removed).StatusCode, 137);
  });
});

Deno.test("containers.rename and update are seen in inspect", async () => {
  await using docker = testDocker();
  await withContainer(docker, { Cmd: ["sleep", "60"] }, async (id) => {
    const name = uniqueName("renamed");
    await docker.containers.rename(id, name);
    assert.equal((await docker.containers.inspect(id)).Name, `/${name}`);
    assert.equal((await docker.containers.inspect(name)).Id, id);
    const result = await docker.containers.update(id, {
      CpuShares: 512,
      RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 },
    });
    assert.deepEqual(result.Warnings, []);
    const { HostConfig } = await docker.containers.inspect(id);
    assert.equal(HostConfig?.CpuShares, 512);
    assert.deepEqual(HostConfig?.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 2 });
  });
});

Deno.test("containers archive: putArchive then getArchive round-trips a tree with a symlink; statPath", async (t) => {
  await using docker = testDocker();
  const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
  const local = await Deno.makeTempDir({ prefix: "berth-archive-" });
  try {
    await withContainer(docker, {}, async (id) => {
      await t.step("putArchive", async () => {
        await docker.containers.putArchive(
          id,
          "/tmp",
          tarStream([
            { name: "tree/", type: "directory", mode: 0o755 },
            { name: "tree/a.txt", body: encoder.encode("hello archive\n"), mode: 0o644 },
            { name: "tree/sub/", type: "directory", mode: 0o750 },
            { name: "tree/sub/b.bin", body: binary, mode: 0o600 },
            { name: "tree/link", type: "symlink", linkname: "a.txt" },
          ]),
        );
      });
      await t.step("statPath", async () => {
        const dir = await docker.containers.statPath(id, "/tmp/tree");
        assert.equal(dir.name, "tree");
        assert.ok(dir.mode >= 2 ** 31, `directory bit in ${dir.mode}`);
        const file = await docker.containers.statPath(id, "/tmp/tree/sub/b.bin");
        assert.deepEqual([file.name, file.size, file.mode % 0o1000], ["b.bin", 256, 0o600]);
        const link = await docker.containers.statPath(id, "/tmp/tree/link");
        assert.equal(link.linkTarget, "/tmp/tree/a.txt");
        assert.ok(Math.floor(link.mode / 2 ** 27) % 2 === 1, `symlink bit in ${link.mode}`);
      });
      await t.step("getArchive", async () => {
        const { stat, body } = await docker.containers.getArchive(id, "/tmp/tree");
        assert.equal(stat.name, "tree");
        const entries = new Map<
          string,
          { type: string; data: Uint8Array; linkname: string; mode: number }
        >();
        for await (const entry of readTar(body)) {
          const { type, linkname, mode } = entry;
          entries.set(entry.name, { type, linkname, mode, data: await readAll(entry.body) });
        }
        assert.deepEqual([...entries.keys()].sort(), [
          "tree/",
          "tree/a.txt",
          "tree/link",
          "tree/sub/",
          "tree/sub/b.bin",
        ]);
        assert.equal(text(entries.get("tree/a.txt")!.data), "hello archive\n");
        assert.deepEqual(entries.get("tree/sub/b.bin")!.data, binary);
        assert.equal(entries.get("tree/sub/b.bin")!.mode & 0o777, 0o600);
        assert.equal(entries.get("tree/link")!.type, "symlink");
        assert.equal(entries.get("tree/link")!.linkname, "a.txt");
      });
      await t.step("extractArchive writes the tree locally", async () => {
        const { stat, extracted } = await docker.containers.extractArchive(id, "/tmp/tree", local);
        assert.equal(stat.name, "tree");
        assert.deepEqual(extracted, { entries: 5, bytes: 14 + 256, skipped: 0 });
        assert.equal(await Deno.readTextFile(`${local}/tree/a.txt`), "hello archive\n");
        assert.deepEqual(await Deno.readFile(`${local}/tree/sub/b.bin`), binary);
        assert.equal(await Deno.readLink(`${local}/tree/link`), "a.txt");
      });
      await t.step("putArchive into a file is refused", async () => {
        // The spec says 400; engine 20.10 answers 500.
        await assert.rejects(
          () => docker.containers.putArchive(id, "/tmp/tree/a.txt", tarStream([])),
          (error) => error instanceof DockerApiError && /not a directory/.test(error.engineMessage),
        );
      });
    });
  } finally {
    await Deno.remove(local, { recursive: true });
  }
});

Deno.test("containers.extractArchive rejects an archive whose links escape the destination", async (t) => {
  await using docker = testDocker();
  const local = await Deno.makeTempDir({ prefix: "berth-unsafe-" });
  try {
    await withContainer(docker, {}, async (id) => {
      // The engine accepts both links (they resolve inside /tmp, where the
      // archive is put), but fetched on their own, `up/link` climbs above the
      // extraction directory and `abs/link` names the host's /etc/passwd.
      await docker.containers.putArchive(
        id,
        "/tmp",
        tarStream([
          { name: "put/", type: "directory" },
          { name: "put/up/", type: "directory" },
          { name: "put/up/link", type: "symlink", linkname: "../.." },
          { name: "put/abs/", type: "directory" },
          { name: "put/abs/link", type: "symlink", linkname: "/etc/passwd" },
        ]),
      );
      for (const [dir, target] of [["up", "../.."], ["abs", "/etc/passwd"]] as const) {
        await t.step(`${dir}/link -> ${target}`, async () => {
          const fetched = await docker.containers.getArchive(id, `/tmp/put/${dir}`);
          const names: string[] = [];
          for await (const entry of readTar(fetched.body)) {
            names.push(`${entry.name} -> ${entry.linkname}`);
          }
          assert.deepEqual(names, [`${dir}/ -> `, `${dir}/link -> ${target}`]);
          const dest = `${local}/${dir}-dest`;
          await assert.rejects(
            () => docker.containers.extractArchive(id, `/tmp/put/${dir}`, dest),
            (error) =>
              error instanceof UnsafeArchiveError && error.reason === "link-outside" &&
              error.entryName === `${dir}/link`,
          );
          // No link was created, and nothing next to the destination.
          assert.deepEqual(
            await Array.fromAsync(Deno.readDir(`${dest}/${dir}`), (entry) => entry.name),
            [],
          );
        });
      }
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(local), (entry) => entry.name)).sort(),
        ["abs-dest", "up-dest"],
      );
    });
  } finally {
    await Deno.remove(local, { recursive: true });
  }
});

Deno.test("containers.prune removes only the stopped containers its label filter matches", async () => {
  await using docker = testDocker();
  const mark = uniqueName("prune");
  const pruneLabel = { ...TEST_LABELS, "berth.test.prune": mark };
  const keepLabel = { ...TEST_LABELS, "berth.test.prune": `${mark}-keep` };
  await withContainer(docker, { Labels: pruneLabel }, async (first) => {
    await withContainer(docker, { Labels: pruneLabel, Cmd: ["sleep", "60"] }, async (running) => {
      await withContainer(docker, { Labels: keepLabel }, async (kept) => {
        await withContainer(docker, { Labels: pruneLabel }, async (second) => {
          await docker.containers.start(running);
          const result = await prune(docker, {
            filters: { label: [`berth.test.prune=${mark}`] },
          });
          assert.deepEqual([...result.ContainersDeleted!].sort(), [first, second].sort());
          assert.equal(typeof result.SpaceReclaimed, "number");
          await expectError(() => docker.containers.inspect(first), DockerNotFoundError);
          assert.equal((await docker.containers.inspect(kept)).Id, kept);
          assert.equal((await docker.containers.inspect(running)).State?.Running, true);
          const again = await prune(docker, {
            filters: { label: [`berth.test.prune=${mark}`] },
          });
          assert.deepEqual(again.ContainersDeleted, []);
          await assert.rejects(
            () => prune(docker, { filters: { nope: ["x"] } }),
            (error) => error instanceof DockerApiError && error.status === 400,
          );
        });
      });
    });
  });
});

Deno.test("containers.run returns exit code and output, and removes the container on request", async (t) => {
  await using docker = testDocker();
  const c = docker.containers;
  const labels = { ...TEST_LABELS };
  await t.step("split stdout and stderr, exit code, remove", async () => {
    const name = uniqueName("run");
    const result = await c.run(
      { Image: testImage(), Cmd: ["sh", "-c", "echo out; echo err >&2; exit 7"], Labels: labels },
      { name, remove: true },
    );
    assert.equal(result.exitCode, 7);
    assert.equal(text(result.stdout), "out\n");
    assert.equal(text(result.stderr), "err\n");
    await expectError(() => c.inspect(name), DockerNotFoundError);
  });
  await t.step("a TTY merges the output", async () => {
    const result = await c.run(
      {
        Image: testImage(),
        Cmd: ["sh", "-c", "echo out; echo err >&2"],
        Tty: true,
        Labels: labels,
      },
      { remove: true },
    );
    assert.equal(result.exitCode, 0);
    assert.equal(text(result.stdout), "out\r\nerr\r\n");
    assert.equal(result.stderr.length, 0);
  });
  await t.step("AutoRemove containers are waited for until removed", async () => {
    const result = await c.run({
      Image: testImage(),
      Cmd: ["sh", "-c", "echo auto; exit 3"],
      Labels: labels,
      HostConfig: { AutoRemove: true },
    });
    assert.deepEqual([result.exitCode, text(result.stdout)], [3, "auto\n"]);
    await expectError(() => c.inspect(result.id), DockerNotFoundError);
  });
  await t.step("without logs and without remove", async () => {
    const result = await c.run({ Image: testImage(), Cmd: ["echo", "quiet"], Labels: labels }, {
      logs: false,
    });
    try {
      assert.deepEqual([result.exitCode, result.stdout.length], [0, 0]);
      assert.equal((await c.inspect(result.id)).State?.Status, "exited");
    } finally {
      await c.remove(result.id, { force: true });
    }
  });
  await t.step("wait: false returns once started", async () => {
    const result = await c.run({ Image: testImage(), Cmd: ["sleep", "60"], Labels: labels }, {
      wait: false,
    });
    try {
      assert.equal(result.exitCode, null);
      assert.equal((await c.inspect(result.id)).State?.Running, true);
    } finally {
      await c.remove(result.id, { force: true });
    }
  });
  await t.step("a name in use is a conflict", async () => {
    await withContainer(docker, {}, async (_id, name) => {
      await expectError(
        () => c.run({ Image: testImage(), Labels: labels }, { name }),
        DockerConflictError,
      );
    });
  });
  await t.step("output past maxOutput fails with DockerOutputLimitError and removes", async () => {
    const name = uniqueName("run-limit");
    // 2,000 lines of 100 bytes, and a line on stderr: 200,004 bytes.
    const cmd = [
      "sh",
      "-c",
      "yes 123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -n 2000; echo err >&2",
    ];
    const error = await c.run({ Image: testImage(), Cmd: cmd, Labels: labels }, {
      name,
      remove: true,
      maxOutput: 100_000,
    }).then(() => undefined, (error) => error);
    assert.ok(error instanceof DockerOutputLimitError, String(error));
    assert.equal(error.limit, 100_000);
    assert.match(error.message, /^Cannot hold the output of container "[0-9a-f]{64}" in memory/);
    await expectError(() => c.inspect(name), DockerNotFoundError);
    // The same output under a limit it fits in.
    const fits = await c.run({ Image: testImage(), Cmd: cmd, Labels: labels }, {
      remove: true,
      maxOutput: 200_004,
    });
    assert.deepEqual([fits.stdout.length, text(fits.stderr)], [200_000, "err\n"]);
  });
  await t.step("aborting removes the container", async () => {
    const name = uniqueName("run-abort");
    const controller = new AbortController();
    const running = c.run({ Image: testImage(), Cmd: ["sleep", "60"], Labels: labels }, {
      name,
      remove: true,
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reason = new Error("enough");
    controller.abort(reason);
    await assert.rejects(running, (error) => error === reason);
    await expectError(() => c.inspect(name), DockerNotFoundError);
  });
});
