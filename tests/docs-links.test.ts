// Product docs never link outside the repository, and every link inside it resolves: the file exists and, for
// `#anchor` links into markdown, a heading with that anchor (GitHub's slug rules) exists in the target.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
const DOCS = ["README.md", "CHANGELOG.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** GitHub's heading anchor: lowercase, punctuation removed (except - and _), spaces to -. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && line.match(/^#{1,6}\s+(.*)$/);
    if (!m) continue;
    const base = slug(m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1"));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Markdown links and images outside code: [text](target). */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

describe("documentation links", () => {
  it("every link is relative and resolves to a file (and heading) in the repository", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const doc of DOCS) {
      const text = readFileSync(join(ROOT, doc), "utf8");
      for (const target of links(text)) {
        checked++;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) {
          problems.push(`${doc}: ${target} leaves the repository`);
          continue;
        }
        const [path, anchor] = target.split("#");
        const file = path ? join(dirname(join(ROOT, doc)), path) : join(ROOT, doc);
        if (!relative(ROOT, file) || relative(ROOT, file).startsWith("..")) problems.push(`${doc}: ${target} points outside the repository`);
        else if (!existsSync(file)) problems.push(`${doc}: ${target} does not exist`);
        else if (anchor && file.endsWith(".md") && !anchors(readFileSync(file, "utf8")).has(anchor)) {
          problems.push(`${doc}: ${target} has no heading #${anchor}`);
        }
      }
    }
    assert(checked > 10, `expected links in ${DOCS.join(", ")}, found ${checked}`);
    assertEquals(problems, []);
  });

  it("the slug rules match GitHub's for the headings the docs link to", () => {
    assertEquals(slug("9. Invariants and how they are tested"), "9-invariants-and-how-they-are-tested");
    assertEquals(slug("Chain / migration (relay and seed)"), "chain--migration-relay-and-seed");
    assertEquals(slug("`edgeplane/client` — the client"), "edgeplaneclient--the-client");
  });
});
