/**
 * The text layout of `tools/gen_types.ts`: JSDoc blocks and their prose
 * (first paragraphs, sentences, word wrap) and type lines laid out as
 * `deno fmt` (line width 100) would.
 *
 * @module
 */

/** Line width of the output, as `deno fmt` is configured (`deno.json`). */
export const LINE_WIDTH = 100;
/** Longest description kept, in characters; {@linkcode firstParagraph} cuts longer ones. */
const DESCRIPTION_LIMIT = 300;

/**
 * The first prose paragraph of a description, without markdown tables, joined
 * into one line (list items keep their own lines), cut to the limit, with
 * `*\/` escaped.
 */
export function firstParagraph(description: string | undefined): string {
  if (!description) return "";
  const paragraphs = description.trim().split(/\n\s*\n/);
  const isTable = (p: string) =>
    p.split("\n").some((l) => /^\s*\|/.test(l) || /-{3,}\s*\|/.test(l));
  const index = paragraphs.findIndex((p) => p.trim() && !isTable(p));
  if (index < 0) return "";
  let paragraph = paragraphs[index]!;
  // "Possible values are:" followed by a list: keep the list's first sentences.
  const list = paragraphs[index + 1]?.trim();
  if (paragraph.trim().endsWith(":") && list && /^[-*] /.test(list)) {
    let kept = paragraph;
    for (const item of list.split(/\n(?=\s*[-*] )/)) {
      const flat = item.trim().replace(/\s+/g, " ");
      const end = sentenceEnds(flat)[0];
      const short = end === undefined ? flat : flat.slice(0, end + 1);
      if (kept.length + short.length + 1 > DESCRIPTION_LIMIT) {
        kept += "\n- …";
        break;
      }
      kept += "\n" + short;
    }
    paragraph = kept;
  } else if (paragraph.trim().endsWith(":")) {
    const text = paragraph.trim();
    // "…in the form:" followed by a one-line code block: inline it.
    const code = /^(?:```\w*\n(.+)\n```|`([^`\n]+)`)$/.exec(list ?? "");
    const inline = (code?.[1] ?? code?.[2])?.trim();
    if (inline && inline.length <= 80 && !inline.includes("`")) {
      paragraph = `${text.slice(0, -1)} \`${inline}\`.`;
    } else {
      // "…must be located in:" followed by a longer block: drop the dangling sentence.
      const cut = sentenceEnds(text).at(-1) ?? -1;
      paragraph = cut > 0 ? text.slice(0, cut + 1) : text.slice(0, -1) + ".";
    }
  }
  const lines = paragraph.split("\n").map((l) => l.trim()).filter(Boolean);
  const joined: string[] = [];
  for (const line of lines) {
    const clean = line.replace(/\s+/g, " ");
    if (/^[-*] /.test(clean) || joined.length === 0) joined.push(clean);
    else joined[joined.length - 1] += " " + clean;
  }
  let text = joined.join("\n");
  if (text.length > DESCRIPTION_LIMIT) {
    const head = text.slice(0, DESCRIPTION_LIMIT);
    const sentence = sentenceEnds(head).at(-1) ?? -1;
    if (sentence > DESCRIPTION_LIMIT / 3) {
      text = head.slice(0, sentence + 1);
    } else {
      text = head.slice(0, head.lastIndexOf(" ")).replace(/[\s,;:(]+$/, "") + "…";
    }
    if ((text.match(/`/g) ?? []).length % 2 === 1) text = text.replace(/…?$/, "`…");
  }
  return text.replaceAll("*/", "*\\/");
}

/** Indexes of the periods that end a sentence (not "e.g." or "i.e."). */
function sentenceEnds(text: string): number[] {
  return [...text.matchAll(/(?<!\b(?:e\.g|i\.e|etc|vs|e\.g\.,))\.(?=\s)/g)].map((m) => m.index);
}

/**
 * Appends a history note as a sentence, or as a paragraph of its own after a
 * list (a sentence there would join the list's last item).
 */
export function withNote(text: string, note: string): string {
  if (!note) return text;
  if (/\n[-*] [^\n]*$/.test(text)) return `${text}\n\n${note}`;
  return `${sentence(text)} ${note}`;
}

/** A JSDoc block for nesting `depth`, on one line when it fits. */
export function jsdoc(text: string, depth: number): string {
  const pad = "  ".repeat(depth);
  const single = `${pad}/** ${text} */`;
  if (!text.includes("\n") && single.length <= LINE_WIDTH) return single + "\n";
  const width = LINE_WIDTH - pad.length - 3;
  const lines: string[] = [];
  for (const item of text.split("\n")) {
    if (item === "") {
      lines.push("");
      continue;
    }
    const hanging = /^[-*] /.test(item) ? "  " : "";
    lines.push(...wrapWords(item, width, hanging));
  }
  return `${pad}/**\n${lines.map((l) => `${pad} * ${l}`.trimEnd()).join("\n")}\n${pad} */\n`;
}

/**
 * Greedy word wrap. A code span is never split, a word starting with `@`
 * never starts a line (it would read as a tag), and "API 1.NN" stays on one line.
 */
export function wrapWords(text: string, width: number, hanging: string): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const tokens: string[] = [];
  let inCode = false;
  for (const word of words) {
    // Keep `code spans` and words starting with `@` on the line before.
    const glued = inCode || word.startsWith("@") ||
      (/^1\.\d+\b/.test(word) && tokens.at(-1)?.endsWith("API"));
    if (glued && tokens.length) tokens[tokens.length - 1] += " " + word;
    else tokens.push(word);
    if ((word.match(/`/g) ?? []).length % 2 === 1) inCode = !inCode;
  }
  const lines: string[] = [];
  let line = "";
  for (const token of tokens) {
    if (line && line.length + 1 + token.length > width) {
      lines.push(line);
      line = hanging + token;
    } else {
      line = line ? `${line} ${token}` : token;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Ends prose with a period unless it already ends with punctuation or a list. */
export function sentence(text: string): string {
  text = text.replace(/^[a-z](?=[a-z]* )/, (c) => c.toUpperCase());
  if (!text || /[.!?:…*_]$/.test(text) || /\n[-*] [^\n]*$/.test(text)) return text;
  return text + ".";
}

export function union(members: string[]): string {
  return members.map(wrap).join(" | ");
}

/** Parenthesizes a type expression that would bind wrongly inside `|`, `&` or `[]`. */
export function wrap(type: string): string {
  if (type.includes("\n")) return type;
  const compound = topLevelSplit(type, "|").length > 1 || topLevelSplit(type, "&").length > 1;
  return compound ? `(${type})` : type;
}

/** One property line (or lines), laid out as `deno fmt` would. */
export function member(pad: string, name: string, type: string): string {
  if (type.startsWith("\n")) return `${pad}${name}:${type};\n`;
  const line = `${pad}${name}: ${type};`;
  if (type.includes("\n") || line.length <= LINE_WIDTH || !isFlatUnion(type)) return line + "\n";
  return `${pad}${name}:\n${splitUnion(type, pad + "  ")};\n`;
}

export function typeAlias(name: string, type: string): string {
  const line = `export type ${name} = ${type};`;
  if (type.includes("\n") || line.length <= LINE_WIDTH || !isFlatUnion(type)) return line;
  return `export type ${name} =\n${splitUnion(type, "  ")};`;
}

function isFlatUnion(type: string): boolean {
  return topLevelSplit(type, "|").length > 1;
}

function splitUnion(type: string, pad: string): string {
  return topLevelSplit(type, "|").map((part) => `${pad}| ${part.trim()}`).join("\n");
}

/** Splits at `separator` outside brackets and quotes. */
function topLevelSplit(type: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let quote = "";
  for (let i = 0; i < type.length; i++) {
    const c = type[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"') {
      quote = c;
    } else if ("([{<".includes(c)) {
      depth++;
    } else if (")]}>".includes(c)) {
      depth--;
    } else if (c === separator && depth === 0) {
      parts.push(type.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(type.slice(start));
  return parts;
}

export function importLine(names: string[], from: string): string {
  const line = `import type { ${names.join(", ")} } from "${from}";`;
  if (line.length <= LINE_WIDTH) return line;
  return `import type {\n${names.map((n) => `  ${n},`).join("\n")}\n} from "${from}";`;
}
