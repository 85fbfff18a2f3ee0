import { CHECKLIST } from '../posture/checklist.js';
import { terminalText } from '../tools/terminal-text.js';
import type { ScanReport, ScanStatus } from './types.js';

const RANK: Record<ScanStatus, number> = { skip: 0, pass: 1, warn: 2, fail: 3 };
const MARK: Record<ScanStatus, string> = { pass: 'pass', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** One line of the 17-point checklist in a scan report, judged on the checks that ran. */
export interface ScanLine {
  line: number;
  practice: string;
  /**
   * The worst status among the line's checks that ran; `skip` when none ran (the line was not
   * judged), `untested` when nothing on this line can be seen from outside.
   */
  status: ScanStatus | 'untested';
  /** How many of the line's checks ran (pass, warn or fail). */
  judged: number;
  /** How many of the line's checks were skipped: a `pass` with skips passed only what ran. */
  skipped: number;
  /** Why the line has no verdict (`skip` or `untested`): its skipped checks' reasons. */
  reason?: string;
}

const UNTESTED_REASON =
  'Cannot be seen from outside: check it in the code and the configuration (for a Bulwark server: bulwark doctor).';

/**
 * One verdict per checklist line. A skipped check is no evidence either way, so it never makes
 * a line pass: a line whose checks were all skipped is `skip` with their reasons, and a line
 * where some ran is judged on those, with the skipped ones counted beside the verdict.
 */
export function scanLines(report: ScanReport): ScanLine[] {
  return CHECKLIST.map(({ line, practice }): ScanLine => {
    const mine = report.findings.filter((f) => f.line === line);
    if (mine.length === 0)
      return { line, practice, status: 'untested', judged: 0, skipped: 0, reason: UNTESTED_REASON };
    const ran = mine.filter((f) => f.status !== 'skip');
    const skipped = mine.length - ran.length;
    if (ran.length === 0) {
      const reasons = [...new Set(mine.map((f) => f.reason))];
      return { line, practice, status: 'skip', judged: 0, skipped, reason: reasons.join(' ') };
    }
    const worst = ran.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a));
    return { line, practice, status: worst.status, judged: ran.length, skipped };
  });
}

/** The row's verdict as the table shows it: a pass next to skips says how much of it ran. */
function verdict(row: ScanLine): string {
  if (row.status === 'untested') return 'untested';
  if (row.status === 'skip') {
    return row.skipped === 1
      ? 'skip (not judged: its one check was skipped)'
      : `skip (not judged: all ${row.skipped} checks were skipped)`;
  }
  if (row.skipped === 0) return MARK[row.status];
  return `${MARK[row.status]} (${row.judged} of ${row.judged + row.skipped} checks ran, ${row.skipped} skipped)`;
}

/** How many findings have each status. */
export function summarize(report: ScanReport): Record<ScanStatus, number> {
  const summary = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const f of report.findings) summary[f.status] += 1;
  return summary;
}

/**
 * The report as a table: one block per checklist line, each finding with its reason and fix.
 * What the target chose (its routes, headers and error text, quoted in findings) is shown with
 * its control characters escaped (terminalText): the table goes to a terminal or a CI log.
 */
export function renderText(report: ScanReport): string {
  const t = terminalText;
  const lines = scanLines(report);
  const width = Math.max(...lines.map((l) => l.practice.length));
  const checkWidth = Math.max(...report.findings.map((f) => f.check.length));
  const out = [
    `bulwark audit of ${t(report.target)}: ${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s`,
    `OpenAPI: ${t(report.openapi ?? `none used (${report.openapiProblem ?? 'not found'})`)} · token: ${report.tokenGiven ? 'given' : 'none (token attacks skipped)'}`,
    '',
    ` #  ${'practice'.padEnd(width)}  status`,
  ];
  const untested: number[] = [];
  for (const row of lines) {
    if (row.status === 'untested') {
      untested.push(row.line);
      continue;
    }
    out.push(`${String(row.line).padStart(2)}  ${row.practice.padEnd(width)}  ${verdict(row)}`);
    for (const f of report.findings.filter((x) => x.line === row.line)) {
      const detail = [
        f.reason,
        f.fix === undefined ? '' : `Fix: ${f.fix}`,
        f.evidence === undefined ? '' : `(${f.evidence})`,
      ]
        .filter(Boolean)
        .join(' ');
      out.push(`      ${MARK[f.status]}  ${f.check.padEnd(checkWidth)}  ${t(detail)}`);
    }
  }
  const s = summarize(report);
  out.push('');
  out.push(`${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skip} skipped.`);
  const unjudged = lines.filter((row) => row.status === 'skip').map((row) => row.line);
  if (unjudged.length > 0) {
    out.push(
      `${unjudged.length === 1 ? 'Line' : 'Lines'} ${unjudged.join(', ')} ${unjudged.length === 1 ? 'was' : 'were'} not judged: every check of ${unjudged.length === 1 ? 'it' : 'theirs'} was skipped (why is above).`,
    );
  }
  if (untested.length > 0) {
    out.push(
      `Lines ${untested.join(', ')} cannot be seen from outside: check them in the code and the configuration (for a Bulwark server: bulwark doctor).`,
    );
  }
  return out.join('\n');
}

/** The report as `bulwark audit --json` prints it: findings, summary and checklist lines. */
export function renderJson(report: ScanReport): string {
  return JSON.stringify(
    { ...report, summary: summarize(report), lines: scanLines(report) },
    null,
    2,
  );
}
