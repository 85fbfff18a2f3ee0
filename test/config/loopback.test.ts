import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/config/loopback.js';

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'LocalHost',
    '127.0.0.1',
    '127.255.255.254',
    '127.1.2.3',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '[0000:0000:0000:0000:0000:0000:0000:0001]',
    '::ffff:127.0.0.1',
    '[::ffff:7f00:1]',
  ])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([
    // DNS names that only look like loopback: they resolve wherever their owner wants.
    '127.example.com',
    '127.0.0.1.nip.io',
    'localhost.evil.example',
    'evil-localhost',
    '127',
    '127.0.0',
    '',
    '0.0.0.0',
    '::',
    '[::]',
    '::2',
    '10.0.0.1',
    '128.0.0.1',
    '::ffff:10.0.0.1',
    '[::1',
    'localhost:8080',
  ])('%j is not loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});
