/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the OS picks one (listen on port 0), the
 * probe closes, and its number is returned for a child process (PostgreSQL, sshd, `rekey`) to
 * bind. Another process could take it in between; on a test machine that race is accepted.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
