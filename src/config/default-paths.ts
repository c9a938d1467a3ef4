/**
 * Where each platform's Datadog Agent keeps its config (docs/product.md §4), for commands run
 * without `--file`. Agent v6/7's `datadog.yaml` comes before v5's `datadog.conf`: on a host
 * upgraded from v5 both files exist and the running Agent reads the YAML one.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, win32 } from 'node:path';

export function defaultConfigPaths(platform: NodeJS.Platform = process.platform, home: string = homedir()): string[] {
  switch (platform) {
    case 'win32':
      return [win32.join('C:\\ProgramData\\Datadog', 'datadog.yaml'), win32.join('C:\\ProgramData\\Datadog', 'datadog.conf')];
    case 'darwin':
      return ['/opt/datadog-agent/etc/datadog.yaml', '/opt/datadog-agent/etc/datadog.conf', join(home, '.datadog-agent', 'datadog.conf')];
    default:
      return ['/etc/datadog-agent/datadog.yaml', '/etc/dd-agent/datadog.conf'];
  }
}

/** The first default path that exists, or null. `exists` is injectable for tests. */
export function findDefaultConfig(paths: string[] = defaultConfigPaths(), exists: (path: string) => boolean = existsSync): string | null {
  return paths.find((path) => exists(path)) ?? null;
}
