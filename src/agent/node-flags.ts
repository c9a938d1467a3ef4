/**
 * The Node.js flags rekey-agent always runs with, so the memory users get is the one
 * bench/agent-resources.ts measures (issue 6: RSS ≤ 60 MB). They are written in one place
 * and used everywhere the agent is launched:
 * - the `rekey-agent` bin: the shebang of src/agent/main.ts (`#!/usr/bin/env -S node …`);
 * - the systemd unit and the SysV init script that `rekey-agent install-service` writes
 *   (agentCommandLine in install-service.ts fills `@AGENT_COMMAND@` in packaging/);
 * - bench/agent-resources.ts.
 * node-flags.test.ts checks that the shebang and the service command carry exactly these.
 *
 * Why each one. Peak RSS of the built agent under 20,000 DogStatsD packets/s for 40 s, and CPU
 * in % of one core at that rate (bench/agent-resources.ts, 2 cores, Node 20). All three:
 * 52.7 MB, ~9 %; idle 51.7 MB and 0.13 % of a core.
 * - `--max-opt=1`: Ignition and Sparkplug only, no optimizing compiler. TurboFan's own machine
 *   code, paged in from the node binary as soon as it compiles anything, is ~3.7 MB resident:
 *   without this flag the peak is 58.9–59.4 MB at 7.2 % of a core. The hot path then runs in
 *   baseline code, +2 % of a core at 20,000 packets/s with no packet lost; idle is unchanged.
 *   `--max-opt` rather than `--no-turbofan` so that Maglev, on by default from Node 22, stays
 *   off too and the figures hold there.
 * - `--optimize-for-size`: V8's heap heuristics for a small footprint (tighter old-generation
 *   growth, earlier memory-reducing GCs): without it 53.7 MB, about the same CPU.
 * - `--max-semi-space-size=2`: caps the young generation at 2 × 2 MB. V8 otherwise grows it up
 *   to 2 × 16 MB when many objects survive a scavenge (a flood of new DogStatsD contexts).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--optimize-for-size', '--max-opt=1'];
