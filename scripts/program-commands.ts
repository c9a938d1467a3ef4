/**
 * How to start rekey's own programs (`rekey`, `rekey-agent`) from this repository: the built
 * `dist/` when it is newer than every file in `src/` (`npm install` builds it; so does `npm run
 * build`), else the TypeScript sources through tsx — so nothing ever runs yesterday's build.
 * Shared by the demo (`scripts/demo.ts`) and the tests (`test/support/processes.ts`).
 *
 * Why the built ones first: a program started through tsx costs ~0.4 s more CPU (0.5 s against
 * 0.1 s for `rekey --version` on this 2-core machine, 2026-11-30), and the suite starts hundreds
 * of servers, agents and CLIs. REKEY_TEST_FROM_SOURCE=1 always runs the sources.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time (ms) of any file below `dir`. */
export function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ holds a build of the current src/ (both programs built after the newest source file). */
function builtIsCurrent(): boolean {
  if (process.env.REKEY_TEST_FROM_SOURCE === '1') return false;
  try {
    const built = Math.min(statSync(join(repoRoot, 'dist/cli/main.js')).mtimeMs, statSync(join(repoRoot, 'dist/agent/main.js')).mtimeMs);
    return built >= newestMtimeMs(join(repoRoot, 'src'));
  } catch {
    return false; // not built
  }
}

const fromBuild = builtIsCurrent();

/** argv prefix that runs `rekey`: `[node, dist/cli/main.js]`, or from source `[node, --import, tsx, src/cli/main.ts]`. */
export const rekeyCommand = fromBuild ? [process.execPath, `${repoRoot}dist/cli/main.js`] : [process.execPath, '--import', 'tsx', `${repoRoot}src/cli/main.ts`];
/** argv prefix that runs `rekey-agent`, built or from source as `rekeyCommand`. */
export const agentCommand = fromBuild
  ? [process.execPath, `${repoRoot}dist/agent/main.js`]
  : [process.execPath, '--import', 'tsx', `${repoRoot}src/agent/main.ts`];
