/**
 * What both distribution routes do once a payload is decoded — the Agent's protobuf sketches
 * (sketch-routes.ts) and v1 JSON distribution points (distribution-routes.ts): each value a
 * sketch summarises (its `cnt`) is a point in the key's usage, so it counts against the key's
 * points/min too (else a key limited in points could send them all as distributions). The
 * points are held before the write, so payloads racing on this node cannot all pass
 * (key-limits.ts), and counted once written; each host is seen and its values recorded.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IntakeSketch } from './sketch-payload.js';
import { overKeyLimit, type IntakeCaller } from './intake-auth.js';
import { agentVersionOf } from './intake-request.js';
import type { IntakeRuntime } from './intake-runtime.js';
import { writeHeld } from './key-limits.js';

/** Writes `sketches` with `write`; the 429 reply when over the key's points/min, else undefined once written. */
export async function writeSketchesCounted(
  runtime: IntakeRuntime,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: IntakeCaller,
  sketches: readonly IntakeSketch[],
  write: () => Promise<void>,
): Promise<FastifyReply | undefined> {
  const values = new Map<string, number>();
  let points = 0;
  for (const s of sketches) {
    values.set(s.host, (values.get(s.host) ?? 0) + s.sketch.cnt);
    points += s.sketch.cnt;
  }
  const { held, over } = runtime.keyLimits.holdPoints(caller.key.id, points);
  if (over !== undefined) return overKeyLimit(reply, runtime, over);
  await writeHeld(held, write);
  const nowMs = runtime.now();
  const agentVersion = agentVersionOf(request);
  for (const [host, count] of values) {
    if (host !== '') runtime.sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion, metadata: null });
    runtime.usage.record(caller.key.id, host, count, agentVersion);
  }
  return undefined;
}
