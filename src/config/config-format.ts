/**
 * Which Agent wrote a config file, told by its content rather than its name (a copied
 * `datadog.conf` may be called anything): a `[Main]` section header means Agent v5's INI,
 * anything else is Agent v6/7's YAML.
 */
export type ConfigFormat = 'v5' | 'v6';

const MAIN_SECTION = /^\[Main\][ \t]*(?:[;#].*)?$/m;

export function detectConfigFormat(text: string): ConfigFormat {
  return MAIN_SECTION.test(text.replace(/^\uFEFF/, '')) ? 'v5' : 'v6';
}
