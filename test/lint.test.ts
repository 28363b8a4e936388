/**
 * House rules as a test: ESLint (typescript-eslint with type information; floating promises are errors)
 * reports no problem anywhere in the project.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';

describe('lint', () => {
  it('ESLint reports no problems', { timeout: 300_000 }, async () => {
    const eslint = new ESLint({ cwd: ROOT_DIR });
    const results = await eslint.lintFiles(['.']);
    const problems = results.flatMap((r) =>
      r.messages.map((m) => `${r.filePath.slice(ROOT_DIR.length + 1)}:${m.line}:${m.column} ${m.ruleId ?? ''} ${m.message}`),
    );
    expect(problems).toEqual([]);
  });
});
