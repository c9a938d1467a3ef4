/**
 * DogStatsD events and service checks
 * (https://docs.datadoghq.com/developers/dogstatsd/datagram_shell/?tab=events):
 *
 *   _e{<title bytes>,<text bytes>}:<title>|<text>|d:<ts>|h:<host>|k:<aggregation key>|p:<low|normal>|s:<source>|t:<alert type>|#<tags>
 *   _sc|<name>|<0-3>|d:<ts>|h:<host>|#<tags>|m:<message>
 *
 * The Datadog Agent forwards both (events to `/intake/`, service checks to
 * `/api/v1/check_run`); rekey-agent does too, with the same field names, so what a client
 * sends shows up on the server as it would on Datadog. Lengths in `_e{…}` are UTF-8 bytes
 * (datadog-go, hot-shots); a client that counted UTF-16 characters instead is accepted too
 * when only that reading fits. `\n` written as the two characters `\` `n` in a text or a
 * message is a newline, as in the Agent.
 */

/** A DogStatsD event, in the Datadog Agent's JSON field names (its `/intake/` events payload). */
export interface AgentEvent {
  msg_title: string;
  msg_text: string;
  /** Epoch seconds; the receive time when the datagram has no `d:`. */
  timestamp: number;
  priority: 'normal' | 'low';
  host: string;
  tags: string[];
  alert_type: 'error' | 'warning' | 'info' | 'success';
  aggregation_key: string;
  source_type_name: string;
}

/** A DogStatsD service check, in `/api/v1/check_run`'s field names. */
export interface AgentServiceCheck {
  check: string;
  host_name: string;
  status: 0 | 1 | 2 | 3;
  timestamp: number;
  message: string;
  tags: string[];
}

const ALERT_TYPES = new Set(['error', 'warning', 'info', 'success']);
/** Datadog's limits: a title of 100 characters is shown, a text of 4,000. */
const MAX_TITLE = 100;
const MAX_TEXT = 4000;
const MAX_HOST = 255;

/** `_e{…}` → the event (host `''` = the agent's own), or the reason it is malformed. */
export function parseDogStatsDEvent(line: string, nowSeconds: number): AgentEvent | string {
  const close = line.indexOf('}:', 3);
  if (close < 0) return 'event without "}:"';
  const lengths = line.slice(3, close).split(',');
  if (lengths.length !== 2 || !lengths.every((n) => /^\d{1,6}$/.test(n))) return 'event lengths are not "{title,text}"';
  const titleLength = Number(lengths[0]);
  const textLength = Number(lengths[1]);
  if (titleLength === 0) return 'event without a title';
  const rest = line.slice(close + 2);
  const split = splitByBytes(rest, titleLength, textLength) ?? splitByChars(rest, titleLength, textLength);
  if (split === null) return 'event title and text do not have the announced lengths';
  const event: AgentEvent = {
    msg_title: split.title.slice(0, MAX_TITLE),
    msg_text: unescapeNewlines(split.text).slice(0, MAX_TEXT),
    timestamp: nowSeconds,
    priority: 'normal',
    host: '',
    tags: [],
    alert_type: 'info',
    aggregation_key: '',
    source_type_name: '',
  };
  for (const field of split.fields) {
    if (field.startsWith('#')) event.tags = splitTags(field.slice(1));
    else if (field.startsWith('d:')) {
      const ts = parseTimestamp(field.slice(2));
      if (ts === null) return 'event timestamp is not a number of seconds';
      event.timestamp = ts;
    } else if (field.startsWith('h:')) event.host = field.slice(2, 2 + MAX_HOST);
    else if (field.startsWith('k:')) event.aggregation_key = field.slice(2, 102);
    else if (field.startsWith('s:')) event.source_type_name = field.slice(2, 102);
    else if (field.startsWith('p:')) event.priority = field.slice(2) === 'low' ? 'low' : 'normal';
    else if (field.startsWith('t:')) {
      const type = field.slice(2);
      event.alert_type = ALERT_TYPES.has(type) ? (type as AgentEvent['alert_type']) : 'info';
    }
    // Unknown fields (`c:` container ids…) are ignored, as the Agent does.
  }
  return event;
}

/** `_sc|…` → the service check (host `''` = the agent's own), or the reason it is malformed. */
export function parseDogStatsDServiceCheck(line: string, nowSeconds: number): AgentServiceCheck | string {
  const parts = line.split('|');
  const name = parts[1] ?? '';
  if (name === '') return 'service check without a name';
  if (name.length > 200) return 'service check name longer than 200 characters';
  const statusText = parts[2] ?? '';
  if (!/^[0-3]$/.test(statusText)) return 'service check status is not 0, 1, 2 or 3';
  const check: AgentServiceCheck = {
    check: name,
    host_name: '',
    status: Number(statusText) as AgentServiceCheck['status'],
    timestamp: nowSeconds,
    message: '',
    tags: [],
  };
  for (let i = 3; i < parts.length; i++) {
    const field = parts[i]!;
    if (field.startsWith('m:')) {
      // The message is the last field and may itself hold `|`.
      check.message = unescapeNewlines(parts.slice(i).join('|').slice(2)).slice(0, MAX_TEXT);
      break;
    }
    if (field.startsWith('#')) check.tags = splitTags(field.slice(1));
    else if (field.startsWith('d:')) {
      const ts = parseTimestamp(field.slice(2));
      if (ts === null) return 'service check timestamp is not a number of seconds';
      check.timestamp = ts;
    } else if (field.startsWith('h:')) check.host_name = field.slice(2, 2 + MAX_HOST);
  }
  return check;
}

function splitTags(raw: string): string[] {
  return raw.split(',').filter((tag) => tag.length > 0);
}

function parseTimestamp(text: string): number | null {
  return /^\d{1,12}$/.test(text) ? Number(text) : null;
}

function unescapeNewlines(text: string): string {
  return text.replaceAll('\\n', '\n');
}

interface SplitEvent {
  title: string;
  text: string;
  fields: string[];
}

/** Title and text cut at byte lengths (UTF-8), as the Agent reads them. */
function splitByBytes(rest: string, titleLength: number, textLength: number): SplitEvent | null {
  const bytes = Buffer.from(rest, 'utf8');
  if (bytes.length < titleLength + 1 + textLength || bytes[titleLength] !== 0x7c) return null;
  const after = titleLength + 1 + textLength;
  if (after < bytes.length && bytes[after] !== 0x7c) return null;
  const title = bytes.subarray(0, titleLength).toString('utf8');
  const text = bytes.subarray(titleLength + 1, after).toString('utf8');
  if (title.includes('\ufffd') && !rest.includes('\ufffd')) return null; // cut inside a character
  return { title, text, fields: fieldsAfter(bytes.subarray(after).toString('utf8')) };
}

/** Title and text cut at UTF-16 lengths: a client that counted characters, not bytes. */
function splitByChars(rest: string, titleLength: number, textLength: number): SplitEvent | null {
  if (rest.length < titleLength + 1 + textLength || rest[titleLength] !== '|') return null;
  const after = titleLength + 1 + textLength;
  if (after < rest.length && rest[after] !== '|') return null;
  return { title: rest.slice(0, titleLength), text: rest.slice(titleLength + 1, after), fields: fieldsAfter(rest.slice(after)) };
}

function fieldsAfter(tail: string): string[] {
  return tail.length === 0 ? [] : tail.slice(1).split('|');
}
