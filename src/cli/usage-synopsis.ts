import { splitSubcommand, type Command } from './args.js';

/** Width of "Usage: ", which the synopsis lines after the first are indented by. */
const PREFIX = 'Usage: '.length;

/**
 * The forms at the head of a usage text (its "Usage:" lines up to the first blank line), each
 * with the lines that continue it (`[--config FILE]` wrapped under `user create`).
 */
function synopsisForms(usage: string): string[][] {
  const head = usage.split('\n\n')[0] ?? usage;
  const forms: string[][] = [];
  for (const line of head.split('\n')) {
    const last = forms.at(-1);
    if (last !== undefined && !line.slice(PREFIX).startsWith('bulwark ')) last.push(line);
    else forms.push([line]);
  }
  return forms;
}

/**
 * The synopsis of `usage`: its "Usage:" lines, only those of subcommand `sub` when it has some
 * (`bulwark user create …` out of the four forms of `user`).
 */
export function usageSynopsis(usage: string, name: string, sub?: string): string {
  const forms = synopsisForms(usage);
  const own = `bulwark ${name} ${sub}`;
  const named =
    sub === undefined
      ? []
      : forms.filter(([first = '']) => {
          const form = first.slice(PREFIX);
          return form === own || form.startsWith(`${own} `);
        });
  const shown = named.length > 0 ? named : forms;
  // The first form shown carries "Usage: ", even when it was not the first of the usage.
  return shown
    .map(([first = '', ...rest], i) =>
      [`${i === 0 ? 'Usage: ' : ' '.repeat(PREFIX)}${first.slice(PREFIX)}`, ...rest].join('\n'),
    )
    .join('\n');
}

/**
 * What a usage error prints after its message: the synopsis, and where the whole usage is. The
 * whole usage (40 lines for `user`) would scroll the error off the screen.
 */
export function usageErrorHint(
  name: string,
  command: Command,
  args: string[],
  usage: string,
): string {
  const names = new Set((command.subcommands ?? []).map((s) => s.synopsis.split(' ')[1]));
  const found =
    names.size === 0
      ? undefined
      : splitSubcommand(args, { config: { type: 'string' }, ...command.options }).sub;
  const sub = found !== undefined && names.has(found) ? found : undefined;
  // A subcommand with a usage of its own (`keys reencrypt`) is pointed to that usage.
  const own = sub !== undefined && command.helpFor?.(args) !== undefined;
  const help = own ? `bulwark ${name} ${sub} --help` : `bulwark ${name} --help`;
  return `${usageSynopsis(usage, name, sub)}\nRun '${help}' for the full usage.`;
}
