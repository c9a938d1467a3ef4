/**
 * Datadog events in, and out, in Datadog's shapes:
 *
 *   POST /api/v1/events   EventCreateRequest `{title, text, date_happened, priority, host, tags,
 *                         alert_type, aggregation_key, source_type_name, device_name}`
 *   POST /intake/         the Agent's events payload `{"events": {"<source>": [{msg_title,
 *                         msg_text, timestamp, priority, host, tags, alert_type,
 *                         aggregation_key, source_type_name}]}, "internalHostname": …}`
 *                         (what the Datadog Agent and rekey-agent send for DogStatsD `_e{…}`)
 *   GET  /api/v1/events   `{"events": [Event…], "status": "ok"}`, Event as eventJson() gives it
 *
 * Like Datadog: a title is cut to 100 characters, a text to 4,000; `date_happened` may be up
 * to 18 hours past and 2 hours ahead (an event outside that is refused, naming the field);
 * priority `normal`/`low`, alert type `error|warning|info|success|user_update|recommendation|
 * snapshot`, anything else refused.
 */
import { Type, type Static } from 'typebox';
import { rekeyError } from '../errors.js';
import type { EventAlertType, EventPriority, NewEvent, StoredEvent } from './event-store.js';
import { MAX_TAGS } from './series-limits.js';

export const EVENT_WINDOW = { pastSeconds: 18 * 3600, futureSeconds: 2 * 3600 };
const MAX_TITLE = 100;
const MAX_TEXT = 4000;
const MAX_EVENTS_PER_PAYLOAD = 1000;
const PRIORITIES = new Set(['normal', 'low']);
const ALERT_TYPES = new Set(['error', 'warning', 'info', 'success', 'user_update', 'recommendation', 'snapshot']);

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

/** `POST /api/v1/events`: one EventCreateRequest. */
export function decodeEventCreate(payload: unknown, orgId: string, nowSeconds: number): NewEvent {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('The payload must be a JSON object (an event)');
  const body = payload as Record<string, unknown>;
  return decodeEvent(
    {
      title: body.title,
      text: body.text,
      ts: body.date_happened,
      priority: body.priority,
      alertType: body.alert_type,
      host: body.host,
      tags: body.tags,
      aggregationKey: body.aggregation_key,
      sourceTypeName: body.source_type_name,
      deviceName: body.device_name,
    },
    {
      title: 'title',
      text: 'text',
      ts: 'date_happened',
      priority: 'priority',
      alertType: 'alert_type',
      host: 'host',
      tags: 'tags',
      aggregationKey: 'aggregation_key',
      sourceTypeName: 'source_type_name',
      deviceName: 'device_name',
    },
    orgId,
    nowSeconds,
    '',
  );
}

/** True when an `/intake/` payload carries events (the Agent's events payload). */
export function hasIntakeEvents(payload: unknown): boolean {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    !Array.isArray(payload) &&
    typeof (payload as Record<string, unknown>).events === 'object' &&
    (payload as Record<string, unknown>).events !== null
  );
}

/** Fields an events-only `/intake/` payload may have beside `events`: it then carries no host metadata to keep. */
const EVENTS_PAYLOAD_FIELDS = new Set(['events', 'internalHostname', 'apiKey', 'uuid', 'service_checks']);

/** True when an `/intake/` payload is only events (the Agent's events payload), not also host metadata. */
export function isEventsOnly(payload: unknown): boolean {
  return hasIntakeEvents(payload) && Object.keys(payload as object).every((field) => EVENTS_PAYLOAD_FIELDS.has(field));
}

/**
 * The events of an `/intake/` payload: `events` maps a source type name to a list of events.
 * An event without a host gets the payload's `internalHostname`; one without a source type
 * name gets the key it is listed under (unless `api`, the Agent's name for "none").
 */
export function decodeIntakeEvents(payload: unknown, orgId: string, nowSeconds: number): NewEvent[] {
  const body = payload as Record<string, unknown>;
  const bySource = body.events;
  if (typeof bySource !== 'object' || bySource === null || Array.isArray(bySource)) throw invalid('"events" must be an object of source name → list of events');
  const defaultHost = typeof body.internalHostname === 'string' ? body.internalHostname.slice(0, 255) : '';
  const out: NewEvent[] = [];
  for (const [source, list] of Object.entries(bySource as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw invalid(`events.${source.slice(0, 100)} must be a list of events`);
    for (const [index, raw] of list.entries()) {
      const where = `events.${source.slice(0, 100)}[${index}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(`${where} must be an object`);
      const e = raw as Record<string, unknown>;
      out.push(
        decodeEvent(
          {
            title: e.msg_title,
            text: e.msg_text,
            ts: e.timestamp,
            priority: e.priority,
            alertType: e.alert_type,
            host: e.host === '' ? undefined : e.host,
            tags: e.tags,
            aggregationKey: e.aggregation_key,
            sourceTypeName: e.source_type_name === '' || e.source_type_name === undefined ? (source === 'api' ? '' : source) : e.source_type_name,
            deviceName: e.device_name,
          },
          {
            title: `${where}.msg_title`,
            text: `${where}.msg_text`,
            ts: `${where}.timestamp`,
            priority: `${where}.priority`,
            alertType: `${where}.alert_type`,
            host: `${where}.host`,
            tags: `${where}.tags`,
            aggregationKey: `${where}.aggregation_key`,
            sourceTypeName: `${where}.source_type_name`,
            deviceName: `${where}.device_name`,
          },
          orgId,
          nowSeconds,
          defaultHost,
        ),
      );
      if (out.length > MAX_EVENTS_PER_PAYLOAD) throw invalid(`More than ${MAX_EVENTS_PER_PAYLOAD} events in one payload; send smaller batches`);
    }
  }
  return out;
}

type Fields = Record<'title' | 'text' | 'ts' | 'priority' | 'alertType' | 'host' | 'tags' | 'aggregationKey' | 'sourceTypeName' | 'deviceName', unknown>;
type Names = Record<keyof Fields, string>;

function decodeEvent(f: Fields, name: Names, orgId: string, nowSeconds: number, defaultHost: string): NewEvent {
  if (typeof f.title !== 'string' || f.title === '') throw invalid(`${name.title} must be a non-empty string`);
  if (f.text !== undefined && f.text !== null && typeof f.text !== 'string') throw invalid(`${name.text} must be a string`);
  let ts = nowSeconds;
  if (f.ts !== undefined && f.ts !== null) {
    if (typeof f.ts !== 'number' || !Number.isFinite(f.ts)) throw invalid(`${name.ts} must be a number of seconds`);
    ts = Math.floor(f.ts);
    if (ts < nowSeconds - EVENT_WINDOW.pastSeconds || ts > nowSeconds + EVENT_WINDOW.futureSeconds) {
      throw invalid(`${name.ts} ${ts} is outside the accepted window (18 hours past, 2 hours ahead); check the sender's clock`);
    }
  }
  const priority = optionalString(f.priority, name.priority) ?? 'normal';
  if (!PRIORITIES.has(priority)) throw invalid(`${name.priority} must be "normal" or "low"`);
  const alertType = optionalString(f.alertType, name.alertType) ?? 'info';
  if (!ALERT_TYPES.has(alertType)) throw invalid(`${name.alertType} must be one of ${[...ALERT_TYPES].join(', ')}`);
  let tags: string[] = [];
  if (f.tags !== undefined && f.tags !== null) {
    if (!Array.isArray(f.tags) || f.tags.some((tag) => typeof tag !== 'string')) throw invalid(`${name.tags} must be an array of strings`);
    // The series limit (series-limits.ts): 150,000 tags on one event were stored and listed whole.
    if (f.tags.length > MAX_TAGS) throw invalid(`${name.tags} holds ${f.tags.length} tags; at most ${MAX_TAGS} are accepted`);
    tags = [...new Set((f.tags as string[]).map((tag) => tag.slice(0, 200)))].sort();
  }
  return {
    orgId,
    title: f.title.slice(0, MAX_TITLE),
    text: ((f.text as string | undefined | null) ?? '').slice(0, MAX_TEXT),
    ts,
    priority: priority as EventPriority,
    alertType: alertType as EventAlertType,
    host: (optionalString(f.host, name.host) ?? defaultHost).slice(0, 255),
    tags,
    aggregationKey: (optionalString(f.aggregationKey, name.aggregationKey) ?? '').slice(0, 100),
    sourceTypeName: (optionalString(f.sourceTypeName, name.sourceTypeName) ?? '').slice(0, 100),
    deviceName: (optionalString(f.deviceName, name.deviceName) ?? '').slice(0, 255),
  };
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

/** Datadog's v1 `Event` (what GET /api/v1/events lists and POST answers). */
export function eventJson(event: StoredEvent): Static<typeof EVENT_SCHEMA> {
  return {
    id: event.id,
    id_str: String(event.id),
    title: event.title,
    text: event.text,
    date_happened: event.ts,
    priority: event.priority,
    alert_type: event.alertType,
    host: event.host,
    tags: [...event.tags],
    ...(event.aggregationKey === '' ? {} : { aggregation_key: event.aggregationKey }),
    ...(event.sourceTypeName === '' ? {} : { source_type_name: event.sourceTypeName }),
    ...(event.deviceName === '' ? {} : { device_name: event.deviceName }),
    url: `/event/event?id=${event.id}`,
  };
}

/** Datadog's v1 `Event` as eventJson() writes it (the OpenAPI document, and the answer's serialiser). */
export const EVENT_SCHEMA = Type.Object(
  {
    id: Type.Integer(),
    id_str: Type.String(),
    title: Type.String(),
    text: Type.String(),
    date_happened: Type.Integer({ description: 'Seconds since the epoch' }),
    priority: Type.String({ description: 'normal or low' }),
    alert_type: Type.String({ description: 'error, warning, info, success, user_update, recommendation or snapshot' }),
    host: Type.String(),
    tags: Type.Array(Type.String()),
    aggregation_key: Type.Optional(Type.String()),
    source_type_name: Type.Optional(Type.String()),
    device_name: Type.Optional(Type.String()),
    url: Type.String(),
  },
  { description: "Datadog's v1 Event" },
);
