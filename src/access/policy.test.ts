import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIONS, can, NO_SCOPE, scopesFor, scopesWithin, SCOPES, unknownScopes, type Action } from './policy.js';
import { ROLES } from '../store/store.js';

test('roles: read_only reads; standard also writes its own application keys and metric metadata; admin does everything', () => {
  const allowed = (role: (typeof ROLES)[number]) => ACTIONS.filter((action) => can({ role }, action));
  assert.deepEqual(allowed('read_only'), [
    'api_keys:read',
    'app_keys:read',
    'own_app_keys:read',
    'own_password:write',
    'hosts:read',
    'metrics:query',
    'events:read',
  ]);
  assert.deepEqual(allowed('standard'), [
    'api_keys:read',
    'app_keys:read',
    'own_app_keys:read',
    'own_app_keys:write',
    'own_password:write',
    'hosts:read',
    'metrics:query',
    'events:read',
    'metrics:metadata_write',
  ]);
  assert.deepEqual(allowed('admin'), [...ACTIONS]);
  // Row 7 of issue 15: the audit trail is admin-only, wherever it is read.
  assert.equal(can({ role: 'standard' }, 'audit:read'), false);
  assert.equal(can({ role: 'read_only' }, 'audit:read'), false);
});

test("an unscoped application key (null) has its owner's full role; a scoped one only what its scopes grant", () => {
  for (const action of ACTIONS) assert.equal(can({ role: 'admin', scopes: null }, action), true, action);
  const reader = { role: 'admin' as const, scopes: ['api_keys_read'] };
  assert.equal(can(reader, 'api_keys:read'), true);
  for (const action of ACTIONS.filter((a) => a !== 'api_keys:read')) assert.equal(can(reader, action), false, action);
  // Scopes never add to a role: a standard user's key scoped api_keys_write still cannot write API keys.
  assert.equal(can({ role: 'standard', scopes: ['api_keys_write'] }, 'api_keys:write'), false);
  // An empty scope list grants nothing; unknown names (stored before validation existed) grant nothing.
  for (const action of ACTIONS) assert.equal(can({ role: 'admin', scopes: [] }, action), false, action);
  assert.equal(can({ role: 'admin', scopes: ['admin', '*', 'toString'] }, 'api_keys:read'), false);
});

test('every action is granted by exactly the Datadog scopes named for it', () => {
  const expected: Record<Action, string[]> = {
    'api_keys:read': ['api_keys_read'],
    'api_keys:write': ['api_keys_write'],
    'api_keys:delete': ['api_keys_delete'],
    'app_keys:read': ['org_app_keys_read'],
    'app_keys:write': ['org_app_keys_write'],
    'own_app_keys:read': ['user_app_keys'],
    'own_app_keys:write': ['user_app_keys'],
    'audit:read': ['audit_logs_read'],
    'users:read': ['user_access_read'],
    'users:write': ['user_access_manage'],
    'users:reset_password': [],
    'own_password:write': [],
    'hosts:read': ['hosts_read'],
    'metrics:query': ['timeseries_query'],
    'events:read': ['events_read'],
    'metrics:metadata_write': ['metrics_metadata_write'],
    'upstream:read': [],
    'upstream:write': [],
  };
  for (const action of ACTIONS) assert.deepEqual(scopesFor(action), expected[action], action);
  for (const scope of SCOPES)
    assert.ok(
      ACTIONS.some((action) => can({ role: 'admin', scopes: [scope] }, action)),
      scope,
    );
});

test('no scope grants a password (reset or change) or the relay upstream: a scoped key would escape its scopes', () => {
  assert.deepEqual([...NO_SCOPE].sort(), ['own_password:write', 'upstream:read', 'upstream:write', 'users:reset_password']);
  for (const action of NO_SCOPE) {
    assert.deepEqual(scopesFor(action), [], action);
    assert.equal(can({ role: 'admin', scopes: SCOPES }, action), false, action);
    assert.equal(can({ role: 'admin', scopes: null }, action), true, action);
  }
  assert.equal(can({ role: 'read_only' }, 'own_password:write'), true);
  assert.equal(can({ role: 'standard' }, 'users:reset_password'), false);
});

test('the relay upstream is read and set by admins only (issue 19)', () => {
  for (const action of ['upstream:read', 'upstream:write'] as const) {
    assert.equal(can({ role: 'admin' }, action), true, action);
    assert.equal(can({ role: 'standard' }, action), false, action);
    assert.equal(can({ role: 'read_only' }, action), false, action);
  }
});

test('unknownScopes names what is not a scope; scopesWithin refuses widening', () => {
  assert.deepEqual(unknownScopes(null), []);
  assert.deepEqual(unknownScopes(['api_keys_read', 'dashboards_read', 'constructor', '']), ['dashboards_read', 'constructor', '']);
  assert.equal(scopesWithin(['api_keys_read'], null), true);
  assert.equal(scopesWithin(null, null), true);
  assert.equal(scopesWithin(null, ['user_app_keys']), false);
  assert.equal(scopesWithin(['user_app_keys', 'api_keys_write'], ['user_app_keys']), false);
  assert.equal(scopesWithin(['user_app_keys'], ['user_app_keys', 'api_keys_read']), true);
});
