/**
 * A unified diff of a config edit for `--dry-run`, with every key masked to its last 4:
 * the diff is printed to a terminal or a CI log, which must never see a key.
 */
import { maskKey } from '../keys/key-format.js';
import type { Hunk } from './api-key-editor.js';

/** Masks the given secrets and anything shaped like a Datadog key (32 or 40 hex). */
export function maskSecrets(line: string, secrets: Array<string | null | undefined> = []): string {
  let out = line;
  for (const secret of secrets) if (secret) out = out.split(secret).join(maskKey(secret));
  return out.replace(/(?<![0-9a-zA-Z])([0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9a-zA-Z])/g, (key) => maskKey(key));
}

export function renderDiff(file: string, hunk: Hunk, secrets: Array<string | null | undefined> = []): string {
  const out = [`--- ${file}`, `+++ ${file} (after rekey)`];
  out.push(`@@ -${hunk.start + 1},${hunk.deleted.length} +${hunk.start + 1},${hunk.inserted.length} @@`);
  for (const line of hunk.deleted) out.push(`-${maskSecrets(line.content, secrets)}`);
  for (const line of hunk.inserted) out.push(`+${maskSecrets(line.content, secrets)}`);
  return `${out.join('\n')}\n`;
}
