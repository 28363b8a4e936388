/** Messages as a declared source receives them, for tests that map payloads without servers. */
import type { SourceMessage } from '../../src/sources/compile';

/** A payload's bytes: a string as UTF-8, anything else as its JSON. */
export function payloadBytes(payload: unknown): Uint8Array {
  return new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload));
}

/**
 * A maker of messages as a declared source receives them: the payload (see {@link payloadBytes}),
 * arrived 1 s before `now`, with the transport identity `identity`; `extra` sets or overrides fields.
 */
export function messageMaker(now: number, identity: string): (payload: unknown, extra?: Partial<SourceMessage>) => SourceMessage {
  return (payload, extra = {}) => ({ payload: payloadBytes(payload), arrivalTime: now - 1000, identity, ...extra });
}
