import { readFile } from "node:fs/promises";

export interface CodeBlock {
  /** The heading the block stands under, e.g. "A small example". */
  section: string;
  code: string;
}

/** The fenced code blocks of one language in a Markdown file, with their section headings. */
export async function codeBlocks(file: string, language = "ts"): Promise<CodeBlock[]> {
  const text = await readFile(file, "utf8");
  const blocks: CodeBlock[] = [];
  let section = "";
  let open: { lines: string[] } | undefined;
  for (const line of text.split("\n")) {
    if (open) {
      if (line.trimEnd() === "```") {
        blocks.push({ section, code: `${open.lines.join("\n")}\n` });
        open = undefined;
      } else {
        open.lines.push(line);
      }
      continue;
    }
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading?.[1] !== undefined) section = heading[1].trim();
    else if (line.trimEnd() === `\`\`\`${language}`) open = { lines: [] };
  }
  if (open) throw new Error(`${file}: a \`\`\`${language} block is not closed`);
  return blocks;
}

/**
 * The output a README example promises: the trailing `// ...` comment of every line that
 * calls console.log, in order.
 */
export function promisedOutput(code: string): string[] {
  return code
    .split("\n")
    .filter((line) => line.includes("console.log("))
    .map((line) => {
      const comment = /\/\/ (.*)$/.exec(line);
      if (comment?.[1] === undefined) {
        throw new Error(`an example's console.log line has no "// output" comment: ${line}`);
      }
      return comment[1];
    });
}
