/**
 * The exact setting that carries the API key in each configuration-management tool, so a
 * fleet managed by Ansible, Chef, Puppet or Helm gets the new key from its own source of
 * truth (a hand-edited datadog.conf would be overwritten on the next run).
 * The key is printed only when asked (`reveal`); otherwise it is masked to its last 4.
 */
import { maskKey } from '../keys/key-format.js';

export type SnippetTool = 'ansible' | 'chef' | 'puppet' | 'helm' | 'env';
export const SNIPPET_TOOLS: readonly SnippetTool[] = ['ansible', 'chef', 'puppet', 'helm', 'env'];

/** The name of the setting in each tool, for messages and docs. */
export const SNIPPET_SETTING: Readonly<Record<SnippetTool, string>> = {
  ansible: 'datadog_api_key',
  chef: "node['datadog']['api_key']",
  puppet: 'datadog_agent::api_key',
  helm: 'datadog.apiKey',
  env: 'DD_API_KEY',
};

/**
 * @param key the key, or null for a placeholder
 * @param reveal print the key itself (else masked)
 */
export function renderSnippet(tool: SnippetTool, key: string | null, reveal: boolean): string {
  const value = key === null ? '<YOUR_API_KEY>' : reveal ? key : maskKey(key);
  switch (tool) {
    case 'ansible':
      return `# Ansible (datadog.dd role): group_vars/all.yml, ideally encrypted with ansible-vault\ndatadog_api_key: "${value}"\n`;
    case 'chef':
      return `# Chef (datadog cookbook): attributes or a role; prefer an encrypted data bag\nnode.default['datadog']['api_key'] = '${value}'\n`;
    case 'puppet':
      return `# Puppet (datadog_agent module): Hiera data, ideally with hiera-eyaml\ndatadog_agent::api_key: '${value}'\n`;
    case 'helm':
      return `# Helm (datadog/datadog chart): values.yaml, or datadog.apiKeyExistingSecret to keep it in a Secret\ndatadog:\n  apiKey: "${value}"\n`;
    case 'env':
      return `# Environment of the Agent (containers, systemd drop-in): overrides the config file\nDD_API_KEY=${value}\n`;
  }
}
