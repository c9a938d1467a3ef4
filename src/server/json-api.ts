/**
 * Datadog's JSON:API bodies for keys, users and audit events.
 *
 * Attribute names and shapes follow Datadog's v2 API (and the models of the official
 * `@datadog/datadog-api-client`, which the compatibility test drives). rekey's extensions
 * (`status`, `expires_at`, `revoked_at`) are extra attributes, which Datadog's clients keep
 * as additional properties. `key` appears only in the response that creates the key.
 */
import type { ApiKey, AppKey, AuditEvent, KeyHostUsage, User } from '../store/store.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

function userRef(userId: string | null): { data: { type: 'users'; id: string } | null } {
  return { data: userId === null ? null : { type: 'users', id: userId } };
}

export function apiKeyResource(key: ApiKey, now: Date, secret?: string) {
  return {
    type: 'api_keys' as const,
    id: key.id,
    attributes: {
      name: key.name,
      ...(secret === undefined ? {} : { key: secret }),
      last4: key.last4,
      category: key.category,
      created_at: key.createdAt.toISOString(),
      modified_at: key.modifiedAt.toISOString(),
      date_last_used: iso(key.lastUsedAt),
      used_in_last_24_hours: key.lastUsedAt !== null && now.getTime() - key.lastUsedAt.getTime() < DAY_MS,
      remote_config_read_enabled: key.remoteConfigReadEnabled,
      // extensions
      status: key.status,
      expires_at: iso(key.expiresAt),
      revoked_at: iso(key.revokedAt),
    },
    relationships: {
      created_by: userRef(key.createdBy),
      modified_by: userRef(key.modifiedBy),
      ...(key.rolledFromId === null ? {} : { rolled_from: { data: { type: 'api_keys', id: key.rolledFromId } } }),
    },
  };
}

export function appKeyResource(key: AppKey, secret?: string) {
  return {
    type: 'application_keys' as const,
    id: key.id,
    attributes: {
      name: key.name,
      ...(secret === undefined ? {} : { key: secret }),
      last4: key.last4,
      created_at: key.createdAt.toISOString(),
      // extension: Datadog's application keys have no modified_at
      modified_at: key.modifiedAt.toISOString(),
      last_used_at: iso(key.lastUsedAt),
      scopes: key.scopes,
    },
    relationships: { owned_by: userRef(key.ownerId) },
  };
}

/** A user as Datadog's `included` shows one; never the password hash. */
export function userResource(user: User) {
  return {
    type: 'users' as const,
    id: user.id,
    attributes: {
      name: user.name,
      handle: user.email,
      email: user.email,
      created_at: user.createdAt.toISOString(),
      disabled: user.disabled,
      status: user.disabled ? 'Disabled' : 'Active',
      verified: true,
      service_account: false,
      // extension
      role: user.role,
    },
  };
}

export function keyHostResource(usage: KeyHostUsage) {
  return {
    type: 'api_key_hosts' as const,
    id: usage.host,
    attributes: {
      host: usage.host,
      first_seen: usage.firstSeen.toISOString(),
      last_seen: usage.lastSeen.toISOString(),
      points: usage.points,
      agent_version: usage.agentVersion,
    },
  };
}

/**
 * An audit event in the shape of Datadog's Audit Trail (`type: "audit"`, the event under
 * `attributes.attributes`, `evt.name` the action, `usr.id` the actor, `network.client.ip`).
 */
export function auditEventResource(event: AuditEvent) {
  return {
    type: 'audit' as const,
    id: event.id,
    attributes: {
      timestamp: event.at.toISOString(),
      service: 'rekey',
      message: `${event.action} ${event.targetType}${event.targetId === null ? '' : ` ${event.targetId}`}`,
      tags: [`action:${event.action}`, `target_type:${event.targetType}`, `actor_kind:${event.actorKind}`],
      attributes: {
        evt: { name: event.action },
        usr: { id: event.actorId, kind: event.actorKind },
        network: { client: { ip: event.sourceIp } },
        target: { type: event.targetType, id: event.targetId },
        org: { id: event.orgId },
        details: event.details,
      },
    },
  };
}
