/**
 * `berth`: a small docker-like CLI built on `@berth/docker`.
 *
 * ```sh
 * deno run --allow-all examples/berth.ts ps -a
 * deno run --allow-all examples/berth.ts run -it --rm busybox sh
 * deno compile --allow-all --include src/worker/worker.ts -o berth examples/berth.ts
 * ```
 *
 * Commands: ps, images, run, logs, exec, pull, push, build, events, stats,
 * system df. Errors are one line on stderr; exit codes follow docker's:
 * 125 when berth or the engine fails a `run`, the container's own code
 * otherwise, 1 for other failures, 2 for usage errors.
 *
 * Permissions: the socket (`--allow-read --allow-write --allow-net` on it),
 * `--allow-env=DOCKER_HOST`, `--allow-read` on a build context. Pulls,
 * pushes and builds use the credentials of `docker login` when the script
 * may read the Docker config (`--allow-env=DOCKER_CONFIG,HOME` and
 * `--allow-read` on `~/.docker`); without those, registries are anonymous.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DockerApiError, DockerError } from "../mod.ts";
import { BuildKitPlainText, Docker } from "../mod.ts";
import type { ContainerStats, Frame, ImageBuildOutput } from "../mod.ts";

const encoder = new TextEncoder();

/** Whether the script may read the Docker config (it never prompts). */
async function mayReadDockerConfig(): Promise<boolean> {
  // berth reads DOCKER_CONFIG, else HOME: it needs both.
  for (const variable of ["DOCKER_CONFIG", "HOME"]) {
    const { state } = await Deno.permissions.query({ name: "env", variable });
    if (state !== "granted") return false;
  }
  return true;
}

/** A usage error: exit code 2. */
class UsageError extends Error {
  override name = "UsageError";
}

/** An exit with a given code (a container's, or docker's 125). */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const USAGE = `Usage: berth [--host HOST] COMMAND [OPTIONS]

Commands:
  ps [-a]                                   List containers
  images [-a]                               List images
  run [-it] [--rm] [--name N] [-e K=V] IMAGE [CMD...]
                                            Run a container
  logs [-f] [--tail N] [-t] CONTAINER       Show a container's output
  exec [-it] CONTAINER CMD...               Run a command in a running container
  pull IMAGE                                Pull an image, with per-layer progress
  push IMAGE                                Push an image, with per-layer progress
  build [-t TAG] [-f DOCKERFILE] [--network MODE] [--buildkit [--secret id=ID,src=FILE]
        [--ssh ID[=SOCKET]] [-o DIR | -o type=tar,dest=FILE|-]] DIR
                                            Build an image (or, with -o, files) from a directory
  events [--filter K=V]                     Stream engine events
  stats [CONTAINER...]                      Live CPU and memory table
  system df                                 Disk usage`;

type OptionSpec = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>;

function parse(args: string[], options: OptionSpec) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Splits `berth run` arguments at the image: options before, command after. */
function splitAtPositional(args: string[], withValue: Set<string>): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-")) return [args.slice(0, i), args.slice(i)];
    if (withValue.has(arg)) i++;
  }
  return [args, []];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("   ").trimEnd()).join(
    "\n",
  );
}

function ago(seconds: number | undefined): string {
  if (!seconds) return "";
  const s = Date.now() / 1000 - seconds;
  if (s < 60) return `${Math.floor(s)} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

function bytes(n: number | undefined): string {
  if (n === undefined) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit ? 2 : 1).replace(/\.0+$/, "")}${units[unit]}`;
}

async function ps(docker: Docker, args: string[]): Promise<void> {
  const { values } = parse(args, { all: { type: "boolean", short: "a" } });
  const list = await docker.containers.list({ all: values.all === true });
  const rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]];
  for (const c of list) {
    const command = JSON.stringify((c.Command ?? "").slice(0, 20));
    rows.push([
      (c.Id ?? "").slice(0, 12),
      c.Image ?? "",
      command,
      ago(c.Created),
      c.Status ?? "",
      (c.Names ?? []).map((n) => n.replace(/^\//, "")).join(","),
    ]);
  }
  console.log(table(rows));
}

async function images(docker: Docker, args: string[]): Promise<void> {
  const { values } = parse(args, { all: { type: "boolean", short: "a" } });
  const list = await docker.images.list({ all: values.all === true });
  const rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
  for (const image of list) {
    const id = (image.Id ?? "").replace(/^sha256:/, "").slice(0, 12);
    const tags = image.RepoTags?.length ? image.RepoTags : ["<none>:<none>"];
    for (const tag of tags) {
      const at = tag.lastIndexOf(":");
      rows.push([tag.slice(0, at), tag.slice(at + 1), id, ago(image.Created), bytes(image.Size)]);
    }
  }
  console.log(table(rows));
}

/** Copies output frames to our stdout/stderr. */
async function pump(frames: ReadableStream<Frame>): Promise<void> {
  for await (const frame of frames) {
    const out = frame.stream === "stderr" ? Deno.stderr : Deno.stdout;
    let offset = 0;
    while (offset < frame.data.length) offset += await out.write(frame.data.subarray(offset));
  }
}

/** Puts the terminal in raw mode for an interactive session, restoring it after. */
async function interactive<T>(
  resize: (rows: number, columns: number) => Promise<void>,
  run: () => Promise<T>,
): Promise<T> {
  const isTty = Deno.stdin.isTerminal();
  const fit = () => {
    if (!Deno.stdout.isTerminal()) return;
    const { rows, columns } = Deno.consoleSize();
    resize(rows, columns).catch(() => {});
  };
  if (isTty) Deno.stdin.setRaw(true);
  fit();
  const onWinch = () => fit();
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGWINCH", onWinch);
  try {
    return await run();
  } finally {
    if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGWINCH", onWinch);
    if (isTty) Deno.stdin.setRaw(false);
  }
}

/** Feeds our stdin to a session, ending with EOF (unless the session ends first). */
function feedStdin(writable: WritableStream<Uint8Array>): void {
  Deno.stdin.readable.pipeTo(writable).catch(() => {});
}

async function run(docker: Docker, args: string[]): Promise<void> {
  const [optionArgs, rest] = splitAtPositional(
    args,
    new Set(["--name", "-e", "--env", "-w", "--workdir"]),
  );
  const { values } = parse(optionArgs, {
    interactive: { type: "boolean", short: "i" },
    tty: { type: "boolean", short: "t" },
    rm: { type: "boolean" },
    name: { type: "string" },
    env: { type: "string", short: "e", multiple: true },
    workdir: { type: "string", short: "w" },
    detach: { type: "boolean", short: "d" },
  });
  const [image, ...cmd] = rest;
  if (!image) throw new UsageError('"berth run" requires an image');
  const tty = values.tty === true;
  const stdin = values.interactive === true;
  let id: string;
  try {
    ({ Id: id } = await docker.containers.create({
      Image: image,
      ...(cmd.length ? { Cmd: cmd } : {}),
      Tty: tty,
      OpenStdin: stdin,
      StdinOnce: stdin,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Env: (values.env as string[] | undefined) ?? [],
      ...(values.workdir ? { WorkingDir: values.workdir as string } : {}),
      Labels: { "berth.cli": "1" },
    }, values.name ? { name: values.name as string } : {}));
  } catch (error) {
    throw engineFailure(error);
  }
  try {
    if (values.detach) {
      await docker.containers.start(id);
      console.log(id);
      return;
    }
    const session = await docker.containers.attach(id, {
      stdin,
      stdout: true,
      stderr: true,
      stream: true,
      tty,
    });
    const exitCode = await interactive(
      (rows, columns) => session.resize(rows, columns),
      async () => {
        await docker.containers.start(id);
        if (stdin) feedStdin(session.writable);
        await pump(session.readable);
        return (await docker.containers.wait(id)).StatusCode;
      },
    );
    session.close();
    if (exitCode !== 0) throw new Exit(exitCode);
  } catch (error) {
    throw error instanceof Exit ? error : engineFailure(error);
  } finally {
    if (values.rm && !values.detach) {
      await docker.containers.remove(id, { force: true }).catch(() => {});
    }
  }
}

/** docker's convention: a failure of the engine or client during run exits 125. */
function engineFailure(error: unknown): Error {
  if (error instanceof DockerError) {
    console.error(`berth: ${error.message}`);
    return new Exit(125);
  }
  return error as Error;
}

async function logs(docker: Docker, args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    follow: { type: "boolean", short: "f" },
    tail: { type: "string", short: "n" },
    timestamps: { type: "boolean", short: "t" },
  });
  const id = positionals[0];
  if (!id) throw new UsageError('"berth logs" requires a container');
  const tail = values.tail === undefined
    ? undefined
    : values.tail === "all"
    ? "all"
    : Number(values.tail);
  if (typeof tail === "number" && !Number.isInteger(tail)) {
    throw new UsageError("--tail takes a number");
  }
  await pump(docker.containers.logs(id, {
    follow: values.follow === true,
    timestamps: values.timestamps === true,
    ...(tail !== undefined ? { tail } : {}),
  }));
}

async function exec(docker: Docker, args: string[]): Promise<void> {
  const [optionArgs, rest] = splitAtPositional(args, new Set());
  const { values } = parse(optionArgs, {
    interactive: { type: "boolean", short: "i" },
    tty: { type: "boolean", short: "t" },
  });
  const [id, ...cmd] = rest;
  if (!id || cmd.length === 0) {
    throw new UsageError('"berth exec" requires a container and a command');
  }
  const tty = values.tty === true;
  const stdin = values.interactive === true;
  const { Id } = await docker.exec.create(id, {
    Cmd: cmd,
    Tty: tty,
    AttachStdin: stdin,
    AttachStdout: true,
    AttachStderr: true,
  });
  const session = await docker.exec.start(Id, { tty });
  await interactive((rows, columns) => session.resize(rows, columns), async () => {
    if (stdin) feedStdin(session.writable);
    await pump(session.readable);
  });
  session.close();
  const { ExitCode } = await docker.exec.inspect(Id);
  if (ExitCode) throw new Exit(ExitCode);
}

/** Renders progress events as one line per layer, redrawn in place on a terminal. */
class LayerLines {
  readonly #order: string[] = [];
  readonly #lines = new Map<string, string>();
  #drawn = 0;
  readonly #live = Deno.stdout.isTerminal();

  update(event: { id?: string; status?: string; progress?: string; stream?: string }): void {
    if (event.stream !== undefined) {
      Deno.stdout.writeSync(encoder.encode(event.stream));
      this.#drawn = 0;
      return;
    }
    if (event.status === undefined) return; // such as the build's `aux` with the image id
    const key = event.id ?? `#${this.#order.length}`;
    const line = [event.id ? `${event.id}:` : "", event.status ?? "", event.progress ?? ""].filter(
      Boolean,
    ).join(" ");
    if (!this.#lines.has(key)) this.#order.push(key);
    this.#lines.set(key, line);
    if (!this.#live) {
      if (!event.progress) console.log(line);
      return;
    }
    let out = this.#drawn ? `\x1b[${this.#drawn}A` : "";
    for (const k of this.#order) out += `\x1b[2K${this.#lines.get(k)}\n`;
    this.#drawn = this.#order.length;
    Deno.stdout.writeSync(encoder.encode(out));
  }
}

async function pull(docker: Docker, args: string[]): Promise<void> {
  const { positionals } = parse(args, {});
  const ref = positionals[0];
  if (!ref) throw new UsageError('"berth pull" requires an image');
  const lines = new LayerLines();
  const progress = docker.images.pull(ref);
  for await (const event of progress) lines.update(event);
  console.log(`${ref}: pulled`);
}

async function push(docker: Docker, args: string[]): Promise<void> {
  const { positionals } = parse(args, {});
  const ref = positionals[0];
  if (!ref) throw new UsageError('"berth push" requires an image');
  const lines = new LayerLines();
  for await (const event of docker.images.push(ref)) lines.update(event);
}

async function build(docker: Docker, args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    tag: { type: "string", short: "t", multiple: true },
    file: { type: "string", short: "f" },
    buildkit: { type: "boolean" },
    network: { type: "string" },
    secret: { type: "string", multiple: true },
    ssh: { type: "string", multiple: true },
    output: { type: "string", short: "o" },
  });
  const dir = positionals[0];
  if (!dir) throw new UsageError('"berth build" requires a directory');
  // `--secret id=token,src=./token.txt` (or `env=NAME`), as `docker build` takes them.
  const secrets: Record<string, Uint8Array> = {};
  for (const spec of (values.secret as string[] | undefined) ?? []) {
    const fields = Object.fromEntries(
      spec.split(",").map((part) => {
        const at = part.indexOf("=");
        return at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
      }),
    );
    const id = fields.id;
    if (!id) {
      throw new UsageError(`Bad --secret "${spec}": expected id=ID,src=FILE or id=ID,env=NAME`);
    }
    if (fields.src) secrets[id] = await Deno.readFile(fields.src);
    else secrets[id] = encoder.encode(Deno.env.get(fields.env ?? id) ?? "");
  }
  if (values.secret && !values.buildkit) throw new UsageError("--secret needs --buildkit");
  // `--ssh default` (your SSH_AUTH_SOCK) or `--ssh ID=SOCKET`, as `docker build` takes them.
  const ssh: Record<string, string> = {};
  for (const spec of (values.ssh as string[] | undefined) ?? []) {
    const at = spec.indexOf("=");
    const id = at < 0 ? spec : spec.slice(0, at);
    const socket = at < 0 ? Deno.env.get("SSH_AUTH_SOCK") : spec.slice(at + 1);
    if (!id || !socket) {
      throw new UsageError(`Bad --ssh "${spec}": expected ID=SOCKET, or ID with SSH_AUTH_SOCK set`);
    }
    ssh[id] = socket;
  }
  if (values.ssh && !values.buildkit) throw new UsageError("--ssh needs --buildkit");
  const output = values.output === undefined ? undefined : outputOption(values.output as string);
  if (output && !values.buildkit) throw new UsageError("--output needs --buildkit");
  const lines = new LayerLines();
  const plain = new BuildKitPlainText();
  // A tar on stdout keeps the progress off it.
  const log = output?.dest === Deno.stdout.writable ? console.error : console.log;
  const print = (text: string[]) => text.forEach((line) => log(line));
  const tags = (values.tag as string[] | undefined) ?? [];
  const stream = docker.images.build(dir, {
    tags,
    ...(values.file ? { dockerfile: values.file as string } : {}),
    ...(values.buildkit ? { version: "2" as const } : {}),
    ...(values.network ? { networkMode: values.network as string } : {}),
    ...(values.secret ? { secrets } : {}),
    ...(values.ssh ? { ssh } : {}),
    ...(output ? { output } : {}),
  });
  for await (const event of stream) {
    // BuildKit's records, as `docker build --progress=plain` shows them.
    if (event.buildkit) print(plain.update(event.buildkit));
    else if (event.id !== "moby.buildkit.trace") lines.update(event);
  }
  print(plain.flush());
  const { imageId } = await stream;
  if (output) {
    if (typeof output.dest === "string") log(`Wrote the ${output.type} output to ${output.dest}`);
  } else console.log(`Built ${imageId}${tags.length ? ` as ${tags.join(", ")}` : ""}`);
}

/** `-o DIR`, `-o type=local,dest=DIR`, `-o type=tar,dest=FILE` (`dest=-`: stdout). */
function outputOption(spec: string): ImageBuildOutput {
  if (!spec.includes("=")) return { type: "local", dest: spec };
  const fields = Object.fromEntries(
    spec.split(",").map((part) => {
      const at = part.indexOf("=");
      return at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    }),
  );
  const dest = fields.dest;
  if ((fields.type !== "local" && fields.type !== "tar") || !dest) {
    throw new UsageError(`Bad --output "${spec}": expected type=local|tar,dest=PATH`);
  }
  if (fields.type === "tar") {
    return { type: "tar", dest: dest === "-" ? Deno.stdout.writable : dest };
  }
  return { type: "local", dest };
}

async function events(docker: Docker, args: string[]): Promise<void> {
  const { values } = parse(args, { filter: { type: "string", multiple: true } });
  const filters: Record<string, string[]> = {};
  for (const filter of (values.filter as string[] | undefined) ?? []) {
    const at = filter.indexOf("=");
    if (at <= 0) throw new UsageError(`Bad filter "${filter}": expected key=value`);
    (filters[filter.slice(0, at)] ??= []).push(filter.slice(at + 1));
  }
  for await (const event of docker.system.events({ filters })) {
    const time = new Date((event.time ?? 0) * 1000).toISOString();
    const attributes = Object.entries(event.Actor?.Attributes ?? {}).map(([k, v]) => `${k}=${v}`)
      .join(", ");
    console.log(`${time} ${event.Type} ${event.Action} ${event.Actor?.ID ?? ""} (${attributes})`);
  }
}

/** CPU percentage like `docker stats`: container CPU delta over system delta, times CPUs. */
function cpuPercent(stats: ContainerStats): number {
  const cpu = (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) -
    (stats.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const system = (stats.cpu_stats?.system_cpu_usage ?? 0) -
    (stats.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = stats.cpu_stats?.online_cpus ?? 1;
  return system > 0 && cpu > 0 ? (cpu / system) * cpus * 100 : 0;
}

async function stats(docker: Docker, args: string[], signal: AbortSignal): Promise<void> {
  const { positionals } = parse(args, {});
  const ids = positionals.length ? positionals : (await docker.containers.list()).map((c) => c.Id!);
  const latest = new Map<string, ContainerStats>();
  const streams = ids.map(async (id) => {
    for await (const s of docker.containers.statsStream(id, { signal })) latest.set(id, s);
  });
  const render = () => {
    const rows = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]];
    for (const id of ids) {
      const s = latest.get(id);
      const used = s?.memory_stats?.usage ?? 0;
      const limit = s?.memory_stats?.limit ?? 0;
      rows.push([
        id.slice(0, 12),
        (s?.name ?? "").replace(/^\//, ""),
        s ? `${cpuPercent(s).toFixed(2)}%` : "--",
        s ? `${bytes(used)} / ${bytes(limit)}` : "--",
        s && limit ? `${((used / limit) * 100).toFixed(2)}%` : "--",
        String(s?.pids_stats?.current ?? "--"),
      ]);
    }
    const clear = Deno.stdout.isTerminal() ? "\x1b[2J\x1b[H" : "";
    console.log(clear + table(rows));
  };
  const timer = setInterval(render, 1000);
  try {
    await Promise.all(streams);
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    clearInterval(timer);
  }
}

async function system(docker: Docker, args: string[]): Promise<void> {
  if (args[0] !== "df") throw new UsageError("Usage: berth system df");
  const df = await docker.system.df();
  const rows = [["TYPE", "TOTAL", "ACTIVE", "SIZE"]];
  const images = df.Images ?? [];
  const containers = df.Containers ?? [];
  const volumes = df.Volumes ?? [];
  rows.push([
    "Images",
    String(images.length),
    String(images.filter((i) => (i.Containers ?? 0) > 0).length),
    bytes(df.LayersSize ?? 0),
  ]);
  rows.push([
    "Containers",
    String(containers.length),
    String(containers.filter((c) => c.State === "running").length),
    bytes(containers.reduce((sum, c) => sum + (c.SizeRw ?? 0), 0)),
  ]);
  rows.push([
    "Local Volumes",
    String(volumes.length),
    String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
    bytes(volumes.reduce((sum, v) => sum + Math.max(0, v.UsageData?.Size ?? 0), 0)),
  ]);
  console.log(table(rows));
}

async function main(argv: string[]): Promise<number> {
  let args = argv;
  let host: string | undefined;
  if (args[0] === "--host" || args[0] === "-H") {
    host = args[1];
    args = args.slice(2);
  }
  const [command, ...rest] = args;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new DOMException("Interrupted", "AbortError"));
  Deno.addSignalListener("SIGINT", onInterrupt);
  await using docker = new Docker({
    ...(host ? { host } : {}),
    ...(await mayReadDockerConfig() ? { credentials: "docker-config" as const } : {}),
  });
  try {
    switch (command) {
      case "ps":
        await ps(docker, rest);
        break;
      case "images":
        await images(docker, rest);
        break;
      case "run":
        await run(docker, rest);
        break;
      case "logs":
        await logs(docker, rest);
        break;
      case "exec":
        await exec(docker, rest);
        break;
      case "pull":
        await pull(docker, rest);
        break;
      case "push":
        await push(docker, rest);
        break;
      case "build":
        await build(docker, rest);
        break;
      case "events":
        await events(docker, rest);
        break;
      case "stats":
        await stats(docker, rest, controller.signal);
        break;
      case "system":
        await system(docker, rest);
        break;
      default:
        throw new UsageError(`Unknown command "${command}"\n\n${USAGE}`);
    }
    return 0;
  } catch (error) {
    if (error instanceof Exit) return error.code;
    if (error instanceof UsageError) {
      console.error(`berth: ${error.message}`);
      return 2;
    }
    if (controller.signal.aborted) return 130;
    const message = error instanceof DockerApiError || error instanceof DockerError
      ? error.message
      : String((error as Error)?.message ?? error);
    console.error(`berth: ${message}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

export { main };
