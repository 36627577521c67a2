/**
 * `deno task demo`: a short tour of berth. Uses the local engine
 * (`DOCKER_HOST` or /var/run/docker.sock) when it answers; otherwise starts
 * the same private engine the test task uses, and stops it at the end.
 *
 * @module
 */

import { collectFrames, Docker, DockerError, humanSize, tarStream } from "../mod.ts";
import {
  ensureTestImage,
  pingEngine,
  type PrivateEngine,
  privateEngineDir,
  removeEngineDir,
  startPrivateEngine,
} from "./_engine.ts";

const bold = (text: string) => Deno.noColor ? text : `\x1b[1m${text}\x1b[0m`;
const decoder = new TextDecoder();

async function pickEngine(): Promise<{ host: string; engine?: PrivateEngine }> {
  const candidates = [Deno.env.get("DOCKER_HOST"), "unix:///var/run/docker.sock"].filter((
    h,
  ): h is string => !!h);
  for (const host of candidates) {
    if (await pingEngine(host)) return { host };
  }
  console.log("No engine answered at", candidates.join(" or "), "— starting a private one…");
  const dir = privateEngineDir("demo-engine");
  const engine = await startPrivateEngine(dir);
  return { host: engine.host, engine };
}

/** The rest of the tour: exec, files, images, volumes, networks, events, stats, workers. */
async function more(docker: Docker, image: string): Promise<void> {
  const labels = { "berth.demo": "1" };
  // Events from now on, for this demo's objects only (read at step 13).
  const events = docker.system.events({ filters: { label: ["berth.demo=1"] } });
  const events$ = events.getReader();
  const { id } = await docker.containers.run(
    { Image: image, Cmd: ["sh", "-c", "seq 1 10000; sleep 30"], Labels: labels },
    { wait: false },
  );
  try {
    const { exitCode, stdout } = await docker.exec.run(id, ["sh", "-c", "tr a-z A-Z; exit 3"], {
      stdin: "exec with stdin, exit code and output\n",
    });
    console.log(bold("8. exec.run"), `exit ${exitCode}:`, decoder.decode(stdout).trim());
    await docker.containers.putArchive(
      id,
      "/tmp",
      tarStream([{ name: "hello.txt", body: "put with a tar stream\n" }]),
    );
    const stat = await docker.containers.statPath(id, "/tmp/hello.txt");
    console.log(
      bold("9. files"),
      `/tmp/hello.txt is ${stat.size} bytes, mode ${stat.mode.toString(8)}`,
    );
    const sample = await docker.containers.stats(id, { oneShot: true });
    console.log(bold("10. stats"), `${humanSize(sample.memory_stats?.usage ?? 0)} of memory`);
    const frames = await collectFrames(docker.containers.logs(id, { worker: true, tty: false }));
    console.log(
      bold("11. a stream in a worker"),
      `${frames.stdout.length} bytes of logs, decoded off-thread`,
    );
  } finally {
    await docker.containers.remove(id, { force: true });
  }
  const volume = await docker.volumes.create({ Labels: labels });
  const network = await docker.networks.create({
    Name: `berth-demo-${Date.now()}`,
    Labels: labels,
  });
  console.log(bold("12. volumes and networks"), volume.Name.slice(0, 12), network.Id.slice(0, 12));
  await docker.volumes.remove(volume.Name);
  await docker.networks.remove(network.Id);
  const seen: string[] = [];
  const stop = setTimeout(() => events$.cancel(), 500);
  try {
    while (true) {
      const { value, done } = await events$.read();
      if (done) break;
      seen.push(`${value.Type} ${value.Action}`);
    }
  } finally {
    clearTimeout(stop);
  }
  console.log(bold("13. events seen"), [...new Set(seen)].join(", "));
  const images = await docker.images.list();
  const df = await docker.system.df();
  console.log(
    bold("14. images and disk"),
    `${images.length} image(s), layers take ${humanSize(df.LayersSize ?? 0)}`,
  );
}

async function tour(host: string): Promise<void> {
  const image = await ensureTestImage(host);
  await using docker = new Docker({
    host,
    observer: (call) => {
      if (Deno.env.get("BERTH_DEMO_TRACE")) {
        console.log(
          `  · ${call.method} ${call.path} → ${call.status} in ${call.duration.toFixed(1)} ms`,
        );
      }
    },
  });

  console.log(bold("1. ping"), await docker.system.ping());
  const version = await docker.system.version();
  console.log(
    bold("2. version"),
    `engine ${version.Version}, API ${version.ApiVersion} (berth uses ${await docker
      .apiVersion()})`,
  );

  console.log(bold("3. run a container"), `from ${image}`);
  const { Id } = await docker.containers.create({
    Image: image,
    Cmd: [
      "sh",
      "-c",
      "for i in 1 2 3; do echo \"hello from berth $i\"; sleep 0.2; done; echo 'and a warning' >&2",
    ],
    Labels: { "berth.demo": "1" },
  });
  try {
    await docker.containers.start(Id);
    console.log(bold("4. stream its logs as they come"));
    for await (const frame of docker.containers.logs(Id, { follow: true })) {
      const line = decoder.decode(frame.data).trimEnd();
      console.log(`   ${frame.stream === "stderr" ? "err" : "out"} │ ${line}`);
    }
    const { StatusCode } = await docker.containers.wait(Id);
    console.log(bold("5. exit code"), StatusCode);
    const { stdout } = await collectFrames(docker.containers.logs(Id, { stderr: false }));
    console.log(bold("6. stdout again, collected"), JSON.stringify(decoder.decode(stdout)));
    const list = await docker.containers.list({ all: true, filters: { label: ["berth.demo=1"] } });
    console.log(
      bold("7. list"),
      list.map((c) => `${c.Id?.slice(0, 12)} ${c.State} ${c.Status}`).join(", "),
    );
    await more(docker, image);
  } finally {
    await docker.containers.remove(Id, { force: true });
    console.log(bold("15. cleaned up"), Id.slice(0, 12));
  }
}

const { host, engine } = await pickEngine();
try {
  await tour(host);
} catch (error) {
  console.error(error instanceof DockerError ? `${error.name}: ${error.message}` : error);
  Deno.exitCode = 1;
} finally {
  if (engine) {
    await engine.stop();
    await removeEngineDir(engine.dir);
  }
}
