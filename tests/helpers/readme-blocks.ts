// The README's TypeScript blocks as files to type-check (the way `deno test --doc` treats doc examples): every
// ```ts block is one module. A block that continues a story (uses a `hub` or `app` made in an earlier block) states
// what it assumes in an HTML comment right above the fence, invisible on GitHub, npm and JSR:
//
//   <!-- ts-context
//   import type { Hub } from "edgeplane";
//   declare const hub: Hub;
//   -->
//   ```ts
//   await hub.publish("lobby", "hi");
//   ```
//
// The context is prepended to the block; errors are reported at README line numbers.

/** One TypeScript block of a markdown file. */
export interface CodeBlock {
  /** 1-based line of the block's first code line in the markdown file. */
  line: number;
  /** The code as printed. */
  code: string;
  /** Declarations from a `<!-- ts-context … -->` comment right above the fence ("" when none). */
  context: string;
}

const FENCE = /^```\s*(\S*)\s*$/;

/** Every ```ts / ```typescript block, with its context comment. Throws on an unclosed fence or a stray context. */
export function typeScriptBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split("\n");
  const blocks: CodeBlock[] = [];
  let pendingContext: { text: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith("<!-- ts-context")) {
      const start = i;
      const body: string[] = [];
      const first = l.slice("<!-- ts-context".length);
      if (first.includes("-->")) body.push(first.slice(0, first.indexOf("-->")));
      else {
        if (first.trim()) body.push(first);
        while (++i < lines.length && !lines[i].includes("-->")) body.push(lines[i]);
        if (i >= lines.length) throw new Error(`line ${start + 1}: ts-context comment is not closed`);
        const last = lines[i].slice(0, lines[i].indexOf("-->"));
        if (last.trim()) body.push(last);
      }
      pendingContext = { text: body.join("\n"), line: start + 1 };
      continue;
    }
    const m = l.match(FENCE);
    if (!m) {
      if (pendingContext && l.trim() !== "") {
        throw new Error(`line ${pendingContext.line}: a ts-context comment must come right before a \`\`\`ts block`);
      }
      continue;
    }
    const lang = m[1].toLowerCase();
    const start = i + 1;
    while (++i < lines.length && !/^```\s*$/.test(lines[i]));
    if (i >= lines.length) throw new Error(`line ${start}: code fence is not closed`);
    const isTs = lang === "ts" || lang === "typescript";
    if (pendingContext && !isTs) throw new Error(`line ${pendingContext.line}: ts-context before a \`\`\`${lang} block`);
    if (isTs) blocks.push({ line: start + 1, code: lines.slice(start, i).join("\n"), context: pendingContext?.text ?? "" });
    pendingContext = undefined;
  }
  return blocks;
}

/** The module text for a block: context, then the code. `codeOffset` is the module line of the code's first line. */
export function blockModule(block: CodeBlock): { text: string; codeOffset: number } {
  if (!block.context) return { text: block.code + "\n", codeOffset: 1 };
  const ctx = block.context.replace(/\n+$/, "");
  return { text: `${ctx}\n${block.code}\n`, codeOffset: ctx.split("\n").length + 1 };
}

/**
 * Map tsc diagnostics (`file(line,col): error TSxxxx: …`, pretty off) for block files back to markdown lines.
 * `files` maps a file name (as tsc prints it) to its block. Lines tsc prints for other files pass through unchanged.
 */
export function mapDiagnostics(output: string, files: Map<string, CodeBlock>, source = "README.md"): string[] {
  const out: string[] = [];
  for (const line of output.split("\n")) {
    if (!line.trim()) continue;
    const m = line.match(/^(.*?)\((\d+),(\d+)\): (error|warning) (TS\d+: .*)$/);
    const block = m ? [...files].find(([name]) => m[1].endsWith(name))?.[1] : undefined;
    if (!m || !block) {
      out.push(line);
      continue;
    }
    const { codeOffset } = blockModule(block);
    const l = Number(m[2]);
    out.push(
      l >= codeOffset
        ? `${source}:${block.line + l - codeOffset}:${m[3]} ${m[5]}`
        : `${source}:${block.line} (ts-context line ${l}) ${m[5]}`,
    );
  }
  return out;
}
