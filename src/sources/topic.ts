/**
 * MQTT topic templates of declared sources: `sensors/{site}/{device_id}/data` names its segments;
 * the subscription filter is derived (`sensors/+/+/data`), and a received topic yields the named values.
 * A trailing `{name...}` (or a bare `#`) matches the remaining levels, a bare `+` one unnamed level
 * (MQTT 5 §4.7: `+` one level, `#` the rest, only last).
 */

/** A compiled topic template. */
export interface TopicTemplate {
  /** The MQTT subscription filter. */
  filter: string;
  /** Names of the `{…}` segments. */
  names: string[];
  /** The named segment values of `topic`, or undefined when it does not match the template. */
  match(topic: string): Record<string, string> | undefined;
}

/** A topic template that cannot be used. */
export class TopicTemplateError extends Error {
  override readonly name = 'TopicTemplateError';
}

/**
 * Compiles `template`.
 * @throws TopicTemplateError for an empty level, a `#` or `{name...}` not last, a level mixing text and `{…}`, or a repeated name
 */
export function compileTopic(template: string): TopicTemplate {
  if (template.startsWith('$share/')) {
    throw new TopicTemplateError('do not write $share/… in topic: declare mqtt.share_group and the plain topic');
  }
  const levels = template.split('/');
  const parts: Array<{ literal: string } | { name?: string; rest: boolean }> = [];
  const names: string[] = [];
  levels.forEach((level, i) => {
    const last = i === levels.length - 1;
    const named = /^\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}$/.exec(level);
    if (named) {
      const [, name, dots] = named;
      if (names.includes(name!)) throw new TopicTemplateError(`segment {${name}} appears twice`);
      if (dots && !last) throw new TopicTemplateError(`{${name}...} matches the remaining levels and must be last`);
      names.push(name!);
      parts.push({ name, rest: !!dots });
    } else if (level === '+') parts.push({ rest: false });
    else if (level === '#') {
      if (!last) throw new TopicTemplateError('# matches the remaining levels and must be last');
      parts.push({ rest: true });
    } else if (/[{}+#]/.test(level)) {
      throw new TopicTemplateError(`level ${JSON.stringify(level)} mixes text with {…}, + or #; a level is either text or one {name}`);
    } else parts.push({ literal: level });
  });
  const filter = parts.map((p) => ('literal' in p ? p.literal : p.rest ? '#' : '+')).join('/');
  return {
    filter,
    names,
    match(topic) {
      const got = topic.split('/');
      const out: Record<string, string> = {};
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        if ('literal' in p) {
          if (got[i] !== p.literal) return undefined;
          continue;
        }
        if (p.rest) {
          // `#` also matches the parent level itself (MQTT 5 §4.7.1.2).
          if (p.name) out[p.name] = got.slice(i).join('/');
          return out;
        }
        const v = got[i];
        if (v === undefined) return undefined;
        if (p.name) out[p.name] = v;
      }
      return got.length === parts.length ? out : undefined;
    },
  };
}
