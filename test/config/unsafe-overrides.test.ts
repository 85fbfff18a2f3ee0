import { describe, expect, it } from 'vitest';
import { createConfig } from '../../src/config/index.js';
import { unsafeOverrides } from '../../src/config/unsafe-overrides.js';

const KEY = Buffer.alloc(32, 7).toString('base64');

describe('unsafeOverrides', () => {
  it('finds nothing in a hardened config', () => {
    expect(unsafeOverrides(createConfig({ keys: { masterKey: KEY } }))).toEqual([]);
  });

  it('names each weakened default', () => {
    const config = createConfig({
      cors: { origins: ['*'] },
      metrics: { port: 9464 },
    });
    expect(unsafeOverrides(config).map((o) => o.setting)).toEqual([
      'keys.masterKey',
      'cors.origins',
      'metrics.port',
    ]);
  });
});
