/**
 * What every intake route group is registered with: the runtime (writer, usage, sightings,
 * settings, clock) and the authentication whose hook runs first on each of its routes.
 */
import type { IntakeAuth } from './intake-auth.js';
import type { IntakeRuntime } from './intake-runtime.js';

export interface IntakeRouteDeps {
  runtime: IntakeRuntime;
  auth: IntakeAuth;
}
