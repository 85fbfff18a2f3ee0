import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { MAX_PASSWORD_BYTES } from '../crypto/index.js';
import { CliError } from './args.js';
import type { CliIo, CliOutput } from './io.js';

/**
 * The first line of `input` without its line ending (`\n` or `\r\n`): the `--password-stdin`
 * convention of `docker login`. Reading stops at the first newline, and at MAX_PASSWORD_BYTES
 * so a stray multi-megabyte pipe is refused without being buffered.
 */
export async function readPasswordLine(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  let newline = -1;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const at = buffer.indexOf(0x0a);
    if (at >= 0) {
      newline = length + at;
      chunks.push(buffer);
      break; // leaving the loop destroys the stream: the rest of the input is never read
    }
    chunks.push(buffer);
    length += buffer.length;
    if (length > MAX_PASSWORD_BYTES) break;
  }
  const all = Buffer.concat(chunks);
  const line = newline >= 0 ? all.subarray(0, newline) : all;
  if (line.length > MAX_PASSWORD_BYTES) {
    throw new CliError(`the password on standard input is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  if (newline < 0 && line.length === 0) {
    throw new CliError(
      'standard input is empty: pipe the password in, e.g. printf %s "$PASSWORD" | bulwark user ... --password-stdin',
    );
  }
  const text = line.toString('utf8');
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/**
 * Asks for a line on the terminal without echoing it. The prompt goes to stderr so stdout stays
 * the command's result; readline keeps no history of the answer (historySize 0).
 * @throws CliError exit code 130 when the user presses Ctrl-C or Ctrl-D
 */
export function promptHidden(
  prompt: string,
  input: NodeJS.ReadableStream,
  echo: CliOutput,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    // readline echoes each keystroke to its output: a muted output shows the prompt only.
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!muted) echo.write(chunk);
        callback();
      },
    });
    const rl = createInterface({ input, output, terminal: true, historySize: 0 });
    let answered = false;
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => {
      if (answered) return;
      echo.write('\n');
      reject(new CliError('cancelled', 130));
    });
    rl.question(prompt, (answer) => {
      answered = true;
      echo.write('\n');
      rl.close();
      resolve(answer);
    });
    muted = true;
  });
}

/** Asks twice on the terminal (stdin and stderr of `io`); both entries must match. */
export async function promptNewPassword(io: CliIo): Promise<string> {
  const password = await promptHidden('Password: ', io.stdin, io.stderr);
  const repeated = await promptHidden('Repeat password: ', io.stdin, io.stderr);
  if (password !== repeated) throw new CliError('the two passwords do not match');
  return password;
}
