import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from './password.js';

describe('passwords', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    assert.match(encoded, /^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    assert.equal(await verifyPassword('correct horse battery staple', encoded), true);
    assert.equal(await verifyPassword('correct horse battery stapler', encoded), false);
    assert.equal(await verifyPassword('', encoded), false);
  });

  it('salts every hash and never contains the password', async () => {
    const [a, b] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    assert.notEqual(a, b);
    assert.ok(!a.includes('same password'));
    assert.equal(await verifyPassword('same password', b), true);
  });

  it('treats a malformed or foreign hash as a mismatch', async () => {
    for (const encoded of ['', 'bcrypt$x', 'scrypt$16384$8$1$salt', 'plaintext']) {
      assert.equal(await verifyPassword('x', encoded), false, encoded);
    }
  });

  it('generates 24-character base64url passwords, all different', () => {
    const seen = new Set(Array.from({ length: 100 }, generatePassword));
    assert.equal(seen.size, 100);
    for (const p of seen) assert.match(p, /^[A-Za-z0-9_-]{24}$/);
  });
});
