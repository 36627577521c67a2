import assert from "node:assert/strict";
import { cleanPath, DockerignoreMatcher, parseDockerignore } from "../../src/build/dockerignore.ts";

/** One row: patterns, then paths with whether each is excluded. */
interface Case {
  name: string;
  patterns: string[];
  paths: Record<string, boolean>;
}

// Expectations written from the examples of Docker's documentation
// ("Dockerignore file" in the build context docs) and moby's patternmatcher
// behaviour described in its comments.
const CASES: Case[] = [
  {
    name: "*/temp* excludes names starting with temp one level down",
    patterns: ["*/temp*"],
    paths: {
      "somedir/temporary.txt": true,
      "somedir/temp": true,
      "somedir/temp/inner.txt": true,
      "temporary.txt": false,
      "somedir/subdir/temporary.txt": false,
      "somedir/xtemp": false,
    },
  },
  {
    name: "*/*/temp* excludes names starting with temp two levels down",
    patterns: ["*/*/temp*"],
    paths: {
      "somedir/subdir/temporary.txt": true,
      "somedir/temporary.txt": false,
      "a/b/c/temporary.txt": false,
    },
  },
  {
    name: "temp? matches one more character at the root",
    patterns: ["temp?"],
    paths: { tempa: true, tempb: true, temp: false, tempab: false, "dir/tempa": false },
  },
  {
    name: "**/*.go excludes .go files in every directory, the root included",
    patterns: ["**/*.go"],
    paths: { "main.go": true, "cmd/tool/main.go": true, "main.gox": false, "go/readme": false },
  },
  {
    name: "*.md with !README.md keeps only the README",
    patterns: ["*.md", "!README.md"],
    paths: { "CHANGELOG.md": true, "README.md": false, "docs/guide.md": false },
  },
  {
    name: "*.md, !README*.md, README-secret.md: the last match wins",
    patterns: ["*.md", "!README*.md", "README-secret.md"],
    paths: {
      "CHANGELOG.md": true,
      "README.md": false,
      "README-dev.md": false,
      "README-secret.md": true,
    },
  },
  {
    name: "*.md, README-secret.md, !README*.md: the middle line has no effect",
    patterns: ["*.md", "README-secret.md", "!README*.md"],
    paths: { "CHANGELOG.md": true, "README-secret.md": false, "README.md": false },
  },
  {
    name: "a leading / and ./ are the same as none",
    patterns: ["/build", "./dist"],
    paths: { build: true, "build/out.js": true, dist: true, "src/build": false, "src/dist": false },
  },
  {
    name: "a trailing / does not restrict the pattern to directories",
    patterns: ["logs/"],
    paths: { logs: true, "logs/today.log": true, "app/logs": false },
  },
  {
    name: "patterns are cleaned like path.Clean",
    patterns: ["a//b/../c/", "x/./y"],
    paths: { "a/c": true, "a/c/d": true, "a/b": false, "x/y": true },
  },
  {
    name: "an exception re-includes one file of an excluded directory",
    patterns: ["docs", "!docs/README.md"],
    paths: {
      docs: true,
      "docs/guide.md": true,
      "docs/README.md": false,
      "docs/sub/README.md": true,
    },
  },
  {
    name: "an exception can re-include a whole directory inside an excluded one",
    patterns: ["vendor", "!vendor/keep"],
    paths: { "vendor/drop/x": true, "vendor/keep": false, "vendor/keep/deep/file": false },
  },
  {
    name: "a later pattern excludes again inside a re-included directory",
    patterns: ["*", "!src", "src/*.tmp"],
    paths: { "Makefile": true, src: false, "src/a.ts": false, "src/a.tmp": true },
  },
  {
    name: "** in the middle matches zero or more directories",
    patterns: ["a/**/b"],
    paths: { "a/b": true, "a/x/b": true, "a/x/y/b": true, "a/x/b/c": true, "a/xb": false },
  },
  {
    name: "a leading ** with no other wildcard is a suffix test",
    patterns: ["**.log"],
    paths: { "x.log": true, "a/b/c.log": true, "a.logs": false },
  },
  {
    name: "a trailing ** after literal text is a prefix test",
    patterns: ["tmp**"],
    paths: { tmp: true, tmp1: true, "tmp/x": true, "a/tmp": false },
  },
  {
    name: "** alone excludes everything",
    patterns: ["**"],
    paths: { a: true, "a/b/c": true },
  },
  {
    name: "* does not cross directories but matches whole directories",
    patterns: ["*.txt"],
    paths: { "a.txt": true, "d/a.txt": false, "x.txt/inside": true },
  },
  {
    name: "character classes, ranges and negation",
    patterns: ["file[0-9]", "[^a]y", "[]]z"],
    paths: { file1: true, filea: false, by: true, ay: false, "]z": true },
  },
  {
    name: "a backslash escapes a wildcard",
    patterns: ["\\*.txt"],
    paths: { "*.txt": true, "a.txt": false },
  },
  {
    name: "regular expression characters are literal",
    patterns: ["a.b+(c)|{d}$^"],
    paths: { "a.b+(c)|{d}$^": true, "aXb+(c)|{d}$^": false, "a.bb(c)|{d}$^": false },
  },
  {
    name: "an exception before any exclusion does nothing",
    patterns: ["!keep", "*"],
    paths: { keep: true, other: true },
  },
  {
    name: "an exclusion after an exception excludes again",
    patterns: ["*.log", "!important.log", "important.log"],
    paths: { "important.log": true, "x.log": true },
  },
  {
    name: "non-ASCII names match with ? as one character",
    patterns: ["caf?", "日本/*"],
    paths: { "café": true, cafés: false, "日本/語": true },
  },
];

for (const { name, patterns, paths } of CASES) {
  Deno.test(`DockerignoreMatcher: ${name}`, () => {
    const matcher = new DockerignoreMatcher(patterns);
    for (const [path, excluded] of Object.entries(paths)) {
      assert.equal(matcher.matches(path), excluded, `${JSON.stringify(patterns)} on ${path}`);
    }
  });
}

Deno.test("DockerignoreMatcher.matches never excludes the context root", () => {
  const matcher = new DockerignoreMatcher(["**", "*", "."]);
  assert.equal(matcher.matches("."), false);
  assert.equal(matcher.matches(""), false);
  assert.equal(matcher.matches("./"), false);
});

Deno.test("DockerignoreMatcher.matches ignores ./ and a leading / in paths", () => {
  const matcher = new DockerignoreMatcher(["build"]);
  assert.equal(matcher.matches("./build/x"), true);
  assert.equal(matcher.matches("/build"), true);
});

Deno.test("DockerignoreMatcher.match with parent state agrees with matches", () => {
  const patterns = ["docs", "!docs/**/*.md", "docs/private", "*/tmp*", "!keep/tmp1"];
  const matcher = new DockerignoreMatcher(patterns);
  const tree = [
    "docs",
    "docs/a.md",
    "docs/a.txt",
    "docs/private",
    "docs/private/b.md",
    "docs/sub",
    "docs/sub/c.md",
    "keep",
    "keep/tmp1",
    "keep/tmp2",
    "src",
    "src/tmpdir",
    "src/tmpdir/file",
  ];
  const states = new Map<string, readonly boolean[]>();
  for (const path of tree) {
    const slash = path.lastIndexOf("/");
    const parent = slash === -1 ? undefined : states.get(path.slice(0, slash));
    const result = matcher.match(path, parent);
    states.set(path, result.state);
    assert.equal(result.excluded, matcher.matches(path), path);
  }
  assert.equal(matcher.matches("docs/sub/c.md"), false);
  assert.equal(matcher.matches("docs/private/b.md"), true);
  assert.equal(matcher.matches("keep/tmp1"), false);
  assert.equal(matcher.matches("src/tmpdir/file"), true);
});

Deno.test("DockerignoreMatcher.mayIncludeUnder tells which excluded directories to walk", () => {
  const matcher = new DockerignoreMatcher(["*", "!src/**/*.ts", "!docs/*.md", "!a*/b"]);
  assert.equal(matcher.mayIncludeUnder("src"), true);
  assert.equal(matcher.mayIncludeUnder("src/deep/er"), true);
  assert.equal(matcher.mayIncludeUnder("docs"), true);
  assert.equal(matcher.mayIncludeUnder("docs/old"), false);
  assert.equal(matcher.mayIncludeUnder("node_modules"), false);
  assert.equal(matcher.mayIncludeUnder("abc"), true);
  assert.equal(matcher.mayIncludeUnder("abc/c"), false);
  assert.equal(new DockerignoreMatcher(["*"]).mayIncludeUnder("src"), false);
  assert.equal(new DockerignoreMatcher(["x", "!**/keep"]).mayIncludeUnder("x"), true);
});

Deno.test("DockerignoreMatcher rejects malformed patterns with TypeError", () => {
  for (const pattern of ["!", "! ", "[abc", "[z-a]", "abc\\", "[a\\"]) {
    assert.throws(() => new DockerignoreMatcher([pattern]), TypeError, pattern);
  }
});

Deno.test("DockerignoreMatcher normalises and lists its patterns", () => {
  const matcher = new DockerignoreMatcher(["  /a/ ", "", "! ./b//c", "d/../e"]);
  assert.deepEqual(matcher.patterns, ["a", "!b/c", "e"]);
  assert.equal(matcher.hasExceptions, true);
  assert.equal(new DockerignoreMatcher(["a"]).hasExceptions, false);
});

Deno.test("parseDockerignore skips comments and blank lines, trims and cleans", () => {
  const text = "\uFEFF# comment\n\n  \n*.log\r\n  # not a comment\n/abs/path/\n!  ./keep//me\n" +
    "a/../b\n#another\n**/tmp\n";
  assert.deepEqual(parseDockerignore(text), [
    "*.log",
    "# not a comment",
    "abs/path",
    "!keep/me",
    "b",
    "**/tmp",
  ]);
});

Deno.test("parseDockerignore keeps a lone ! for the matcher to reject", () => {
  const patterns = parseDockerignore("!\n");
  assert.deepEqual(patterns, ["!"]);
  assert.throws(() => new DockerignoreMatcher(patterns), TypeError);
});

Deno.test("cleanPath follows Go's path.Clean", () => {
  const cases: [string, string][] = [
    ["", "."],
    [".", "."],
    ["./", "."],
    ["a/", "a"],
    ["a//b", "a/b"],
    ["a/./b", "a/b"],
    ["a/b/..", "a"],
    ["a/../..", ".."],
    ["../a", "../a"],
    ["/..", "/"],
    ["/../a/", "/a"],
    ["//a", "/a"],
  ];
  for (const [input, expected] of cases) assert.equal(cleanPath(input), expected, input);
});
