// Fails when the committed build in dist/ (which `baton serve` embeds and serves) differs from
// what a fresh build of src/ produces.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const fresh = mkdtempSync(join(tmpdir(), "baton-web-build-"));
try {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json", "--outDir", fresh], { stdio: "inherit" });
  const built = readdirSync(fresh).sort();
  const committed = readdirSync("dist").sort();
  let drift = JSON.stringify(built) !== JSON.stringify(committed);
  if (drift) console.error(`dist/ has ${committed.join(", ")}; a build makes ${built.join(", ")}`);
  for (const name of built) {
    if (!committed.includes(name)) continue;
    if (!readFileSync(join(fresh, name)).equals(readFileSync(join("dist", name)))) {
      console.error(`dist/${name} differs from a fresh build`);
      drift = true;
    }
  }
  if (drift) {
    console.error("Run `npm run build` in clients/web and commit dist/.");
    process.exit(1);
  }
  console.log(`dist/ matches a fresh build (${built.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
