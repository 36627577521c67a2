/**
 * Copies files into a container and back out: writes a small tree as a tar
 * stream (`PUT /containers/{id}/archive`), checks a path with `statPath`,
 * then extracts the tree into a local temporary directory with the safe
 * extractor (`GET /containers/{id}/archive`).
 *
 * ```sh
 * deno run --allow-all examples/copy_files.ts [image]
 * ```
 *
 * Or with no more than it needs: the socket, the temporary directory, and
 * read and write unscoped, as Deno creates symlinks (the tree has one) only
 * with unscoped `--allow-read` and `--allow-write`:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net=unix:/var/run/docker.sock \
 *   --allow-env=DOCKER_HOST examples/copy_files.ts [image]
 * ```
 *
 * @module
 */

import { Docker } from "../mod.ts";
import { tarStream } from "../src/stream/tar.ts";

const image = Deno.args[0] ?? "busybox:latest";

await using docker = new Docker();
const local = await Deno.makeTempDir({ prefix: "berth-copy-" });
let Id: string | undefined;
try {
  // Created inside `try`, so that whatever fails later, it is removed.
  ({ Id } = await docker.containers.create({
    Image: image,
    Cmd: ["sleep", "60"],
    Labels: { "berth.example": "copy_files" },
  }));
  // Into the container: a directory, two files and a symlink, streamed.
  await docker.containers.putArchive(
    Id,
    "/tmp",
    tarStream([
      { name: "site/", type: "directory", mode: 0o755 },
      { name: "site/index.html", body: "<h1>hello</h1>\n", mode: 0o644 },
      { name: "site/notes.txt", body: "copied by berth\n", mode: 0o600 },
      { name: "site/home.html", type: "symlink", linkname: "index.html" },
    ]),
  );

  const stat = await docker.containers.statPath(Id, "/tmp/site/index.html");
  console.log(`in the container: ${stat.name}, ${stat.size} bytes, modified ${stat.mtime}`);

  // Back out: entries that would escape `local` are refused.
  await docker.containers.extractArchive(Id, "/tmp/site", local);
  for await (const entry of Deno.readDir(`${local}/site`)) {
    const kind = entry.isSymlink ? `-> ${await Deno.readLink(`${local}/site/${entry.name}`)}` : "";
    console.log(`extracted: site/${entry.name} ${kind}`);
  }
  console.log(await Deno.readTextFile(`${local}/site/index.html`));
} finally {
  await Deno.remove(local, { recursive: true });
  if (Id !== undefined) await docker.containers.remove(Id, { force: true });
}
