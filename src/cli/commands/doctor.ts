import type { ChecklistRow } from '../../posture/index.js';
import { CliUsageError, parseCommandArgs, type Command } from '../args.js';
import { pathIn } from '../io.js';

const MARK = { pass: 'pass', warn: 'WARN', fail: 'FAIL' } as const;

function table(rows: ChecklistRow[]): string {
  const width = Math.max(...rows.map((r) => r.practice.length));
  const lines = [` #  ${'practice'.padEnd(width)}  status  reason`];
  for (const row of rows) {
    // A passing line shows why; a failing or warning line shows every problem, not its passes.
    const shown =
      row.status === 'pass'
        ? row.findings.slice(0, 1)
        : row.findings.filter((f) => f.status !== 'pass');
    shown.forEach((finding, i) => {
      const head =
        i === 0
          ? `${String(row.line).padStart(2)}  ${row.practice.padEnd(width)}  ${MARK[row.status].padEnd(6)}  `
          : `${' '.repeat(4 + width + 2)}${MARK[finding.status].padEnd(6)}  `;
      lines.push(`${head}${finding.reason}${finding.fix ? ` Fix: ${finding.fix}` : ''}`);
    });
  }
  return lines.join('\n');
}

export const doctor: Command = {
  summary: 'print the security posture of a config; exit 1 on any fail',
  usage: [
    'Usage: bulwark doctor [--config FILE] [--json]',
    '',
    'Checks the configuration (environment variables and the optional JSON file, exactly as',
    '`bulwark serve` would read them) and the files it names — master key file and its mode, TLS',
    'certificate validity, expiry and key match — against every line of the security checklist,',
    'and prints pass / warn / fail with the reason and the fix. Connects to nothing.',
    '',
    'Exit codes: 0 no fail (warnings allowed), 1 at least one fail, 78 the config itself is',
    'invalid. With env=production the service refuses to start on the same fails, so run this in',
    "your deployment's CI with the production settings.",
    '',
    'Options:',
    '  --config FILE   JSON config file (environment variables override it)',
    '  --json          one JSON document instead of the table',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      config: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new CliUsageError('doctor takes no arguments');
    const { loadCliConfig } = await import('../context.js');
    const { checklistRows, evaluatePosture } = await import('../../posture/index.js');
    const config = loadCliConfig(values.config, io);
    const findings = evaluatePosture(config, {
      // Its mode is checked where it was read (io.cwd); named as typed in the real CLI.
      ...(values.config === undefined ? {} : { configFile: pathIn(io, values.config) }),
    });
    const rows = checklistRows(findings);
    const count = (status: string): number => rows.filter((r) => r.status === status).length;
    const summary = { pass: count('pass'), warn: count('warn'), fail: count('fail') };
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ env: config.env, configFile: values.config ?? null, summary, lines: rows }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(
        [
          `Bulwark security posture — env ${config.env}${values.config === undefined ? '' : `, config ${values.config}`}`,
          '',
          table(rows),
          '',
          `${summary.fail} fail, ${summary.warn} warn, ${summary.pass} pass (of ${rows.length} checklist lines)`,
          '',
        ].join('\n'),
      );
    }
    return summary.fail > 0 ? 1 : 0;
  },
};
