/**
 * Text as a terminal may show it: every C0 and C1 control character, DEL, and the invisible
 * format characters that reorder or hide text (bidi overrides and isolates, zero-width
 * characters, BOM) written as a visible `\uXXXX` escape, the way JSON.stringify writes C0.
 * Reports quote what a token or a scanned server chose (an `alg`, a `typ`, a route of an OpenAPI
 * document, a header): raw, an ESC sequence in it would clear the screen, rewrite the verdict
 * line above it, set the window title or, on some terminals, answer back into the shell's input;
 * a bidi override would make a failing line read as a passing one. One line stays one line:
 * newlines and tabs are escaped too.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function terminalText(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
