/**
 * A source file bound to one stream: what `streams start mqtt:<source> --kind <name>` (and `ingest
 * start`, and a stream started before the built-in kinds became source files) runs. The declaration
 * keeps its name, mapping and table; its transport becomes the stream's:
 * - MQTT: the topic template with `{source}` replaced by the stream's source (`sensors/{source}/+` →
 *   `sensors/office/+`), or the stream's own topic filter when one is given;
 * - Kafka: the stream's topic and consumer group (a file declared for MQTT can feed a Kafka stream when
 *   its mapping reads no topic segment).
 * Pure data → data, so the CLI binds before starting the workflow and the activity binds for older
 * workflows that carry only a kind.
 */
import type { SourceDeclarationInput } from './declaration';

/** The stream a source file is bound to. */
export type StreamBinding =
  | { stream: 'mqtt'; source: string; topic?: string }
  | { stream: 'kafka'; source: string; topic: string; groupId: string; startFrom?: 'earliest' | 'latest' };

/** A topic filter or template level that must not be changed by binding. */
const SOURCE_SEGMENT = '{source}';

/**
 * The declaration of `d` bound to `b` (see the module comment). `d` is a validated declaration or
 * the JSON of one; the result is its JSON, for a workflow input.
 * @throws Error when an MQTT stream has no topic: the file declares none and the stream gives none
 */
export function bindToStream(d: SourceDeclarationInput, b: StreamBinding): SourceDeclarationInput {
  if (b.stream === 'mqtt') {
    let topic = b.topic;
    if (topic === undefined) {
      if (!d.mqtt) throw new Error(`source ${d.name} declares no MQTT topic; give the stream's topic filter (--topic)`);
      topic = d.mqtt.topic
        .split('/')
        .map((level) => (level === SOURCE_SEGMENT ? b.source : level))
        .join('/');
    }
    const { kafka: _kafka, ...rest } = d;
    return { ...rest, mqtt: { ...(d.mqtt ?? {}), topic } };
  }
  const { mqtt: _mqtt, ...rest } = d;
  return {
    ...rest,
    kafka: { topics: [b.topic], group: b.groupId, ...(b.startFrom ? { start_from: b.startFrom } : {}) },
  };
}
