/**
 * What most agent tests start from: a fresh API key, a recording intake that accepts it, and a
 * temp directory for the config and run path — both removed after the test.
 */
import type { TestContext } from 'node:test';
import { generateKey } from '../../../src/keys/key-format.js';
import { removeDir, tempDir } from './agent-process.js';
import { RecordingIntake } from './recording-intake.js';

export async function agentTestbed(t: TestContext, prefix: string): Promise<{ key: string; dir: string; intake: RecordingIntake }> {
  const key = generateKey('api');
  const dir = await tempDir(prefix);
  const intake = await RecordingIntake.start([key]);
  t.after(async () => {
    await intake.close();
    await removeDir(dir);
  });
  return { key, dir, intake };
}
