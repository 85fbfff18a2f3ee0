import { describe, expect, it } from 'vitest';
import { renderJson, renderText, scanLines } from '../../src/scan/report.js';
import type { ScanFinding, ScanReport, ScanStatus } from '../../src/scan/types.js';

/**
 * The checklist rows of the report: a skipped check is no evidence, so a row must never say
 * `pass` on the strength of checks that did not run.
 */

const f = (check: string, line: number, status: ScanStatus, reason = `${check} ${status}`) =>
  ({ check, line, status, reason }) satisfies ScanFinding;

function report(findings: ScanFinding[]): ScanReport {
  return {
    target: 'http://127.0.0.1:1/',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1000,
    requests: 10,
    openapi: null,
    tokenGiven: false,
    findings,
  };
}

/** The table row of checklist line `line`. */
const row = (text: string, line: number): string | undefined =>
  text.split('\n').find((l) => l.startsWith(`${String(line).padStart(2)}  `));

describe('the checklist rows of the audit report', () => {
  // Line 4 when every body probe was rate limited (429): only TRACE ran.
  const bodyProbesSkipped = report([
    f('input.content-type', 4, 'skip', 'POST /login was rate limited (429). Scan again in 42 s.'),
    f('input.body-limit', 4, 'skip', 'POST /login was rate limited (429). Scan again in 42 s.'),
    f('input.prototype-poisoning', 4, 'skip'),
    f('input.unknown-fields', 4, 'skip'),
    f('input.trace', 4, 'pass'),
    f('auth.token-in-url', 3, 'skip', 'No token given: pass --token-file.'),
    f('versioning.paths', 13, 'skip', 'No OpenAPI document, so the routes could not be listed.'),
    f('errors.not-found', 11, 'pass'),
    f('errors.malformed-json', 11, 'skip'),
    f('errors.no-5xx', 11, 'warn'),
    f('cors.foreign-origin', 14, 'pass'),
  ]);

  it('does not pass a line whose checks were all skipped: it is not judged, with the reasons', () => {
    const lines = scanLines(bodyProbesSkipped);
    expect(lines.find((l) => l.line === 3)).toEqual({
      line: 3,
      practice: 'OAuth 2.0 / OIDC login',
      status: 'skip',
      judged: 0,
      skipped: 1,
      reason: 'No token given: pass --token-file.',
    });
    const text = renderText(bodyProbesSkipped);
    expect(row(text, 3)).toMatch(/ skip \(not judged: its one check was skipped\)$/);
    expect(row(text, 13)).toMatch(/ skip \(not judged: its one check was skipped\)$/);
    expect(text).toContain('\nLines 3, 13 were not judged: every check of theirs was skipped');
  });

  it('says how much of a passing line ran when some of its checks were skipped', () => {
    expect(scanLines(bodyProbesSkipped).find((l) => l.line === 4)).toEqual({
      line: 4,
      practice: 'input validation',
      status: 'pass',
      judged: 1,
      skipped: 4,
    });
    const text = renderText(bodyProbesSkipped);
    expect(row(text, 4)).toMatch(/ pass \(1 of 5 checks ran, 4 skipped\)$/);
    // A warning among skips is the warning, with the skips counted.
    expect(row(text, 11)).toMatch(/ WARN \(2 of 3 checks ran, 1 skipped\)$/);
    // Nothing skipped: the verdict alone, as before.
    expect(row(text, 14)).toMatch(/ pass$/);
  });

  it('gives the same rows in --json, adding fields to the ones it had', () => {
    const json = JSON.parse(renderJson(bodyProbesSkipped)) as {
      lines: { line: number; status: string; judged: number; skipped: number; reason?: string }[];
      summary: Record<string, number>;
    };
    expect(json.lines.find((l) => l.line === 13)).toMatchObject({
      status: 'skip',
      judged: 0,
      skipped: 1,
      reason: 'No OpenAPI document, so the routes could not be listed.',
    });
    expect(json.lines.find((l) => l.line === 4)).toMatchObject({ status: 'pass', skipped: 4 });
    expect(json.lines.find((l) => l.line === 4)).not.toHaveProperty('reason');
    expect(json.lines.find((l) => l.line === 6)).toMatchObject({
      status: 'untested',
      judged: 0,
      reason: expect.stringContaining('Cannot be seen from outside'),
    });
    expect(json.summary).toEqual({ pass: 3, warn: 1, fail: 0, skip: 7 });
  });

  it('joins the distinct reasons of a line whose several checks were all skipped', () => {
    const lines = scanLines(
      report([
        f('input.content-type', 4, 'skip', 'Rate limited.'),
        f('input.body-limit', 4, 'skip', 'Rate limited.'),
        f('input.trace', 4, 'skip', 'TRACE was not sent.'),
      ]),
    );
    expect(lines.find((l) => l.line === 4)).toMatchObject({
      status: 'skip',
      skipped: 3,
      reason: 'Rate limited. TRACE was not sent.',
    });
    expect(row(renderText(report([f('input.a', 4, 'skip'), f('input.b', 4, 'skip')])), 4)).toMatch(
      / skip \(not judged: all 2 checks were skipped\)$/,
    );
  });
});
