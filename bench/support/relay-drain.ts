/**
 * Waiting for a relay's spool to empty, for the relay benchmarks. The relay answers 202 once a
 * payload is spooled and delivers it behind; under a saturating load it accepts faster than it
 * delivers (measured 2026-12-01: after 10 s at 20 connections, ~56,000 of ~87,000 acknowledged
 * payloads were still spooled, delivered in the 3 s after). A rate taken over the load alone
 * would count payloads whose forwarding is not done yet — work the bare proxy has done before
 * it answers — so the relay's forwarding rate is taken up to the moment its spool is empty.
 */

/** Payloads in the relay's spool (its `rekey_relay_spool_payloads` gauge). */
export async function spooledPayloads(relayUrl: string): Promise<number> {
  const text = await (await fetch(`${relayUrl}/metrics`)).text();
  const match = /^rekey_relay_spool_payloads (\d+)$/m.exec(text);
  if (!match) throw new Error('the relay exposes no rekey_relay_spool_payloads gauge');
  return Number(match[1]);
}

/** Resolves once the spool is empty (polled every 20 ms); throws after `timeoutMs`. */
export async function waitForDrain(relayUrl: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await spooledPayloads(relayUrl)) > 0) {
    if (Date.now() > deadline) throw new Error(`the relay's spool did not empty within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
