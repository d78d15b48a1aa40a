// Fails when the committed build in dist/ (which `baton serve` embeds and serves) differs from
// what a fresh build of src/ produces, src/generated/ included.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every file under `dir`, as paths relative to it, sorted. */
const files = (dir) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => statSync(join(dir, name)).isFile())
    .sort();

const fresh = mkdtempSync(join(tmpdir(), "baton-web-build-"));
try {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json", "--outDir", fresh], { stdio: "inherit" });
  const built = files(fresh);
  const committed = files("dist");
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
