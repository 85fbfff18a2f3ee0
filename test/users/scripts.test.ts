import { describe, expect, it } from 'vitest';
import { looksLatin, mixesScripts } from '../../src/users/scripts.js';

/*
 * UTS #39 "highly restrictive", by known answers: the scripts of letters, digits and marks come
 * from Script_Extensions; Common and Inherited characters go with any script.
 */
describe('mixesScripts', () => {
  it.each([
    ['ASCII', 'john.doe+tag-42'],
    ['accented Latin', 'ren\u00e9e.m\u00fcller'],
    ['Greek', '\u03b1\u03bb\u03ad\u03be\u03b7\u03c2'],
    ['Cyrillic with ASCII digits', '\u0434\u043c\u0438\u0442\u0440\u0438\u0439.2000'],
    ['Devanagari with its digits', '\u0930\u093e\u092e\u0967\u0968'],
    ['Devanagari with ASCII digits', '\u0930\u093e\u092e123'],
    ['Arabic with a tatweel', '\u0645\u062d\u0640\u0645\u062f'],
    ['Arabic with Arabic-Indic digits', '\u0645\u062d\u0645\u062f\u0661\u0662'],
    ['Katakana with the prolonged sound mark', '\u30b3\u30fc\u30d2\u30fc'],
    ['Hiragana with the prolonged sound mark', '\u3089\u30fc\u3081\u3093'],
    ['Japanese with Latin', 'tanaka\u7530\u4e2d\u305f\u306a\u304b'],
    ['Chinese with Bopomofo and Latin', 'zhang\u3105\u4e2d\u6587'],
    ['Korean with Latin', '\ud64d\uae38\ub3d9-kim'],
    ['Thai with its marks', '\u0e17\u0e35\u0e48\u0e19\u0e35\u0e48'],
    ['Tamil with its marks', '\u0bae\u0bc2\u0bb0\u0bc1\u0b95\u0ba9\u0bcd'],
  ])('accepts %s', (_label, text) => {
    expect(mixesScripts(text)).toBe(false);
  });

  it.each([
    ['Latin with Cyrillic', '\u0430dmin'],
    ['Latin with Greek', 'r\u03bfot'],
    ['Latin with Cherokee', '\u13aadmin'],
    ['Latin with Armenian', '\u0564\u0578min'],
    ['Latin with Lisu', '\ua4eedmin'],
    ['Latin with Devanagari zeros', 'g\u0966\u0966gle'],
    ['Latin with an Arabic-Indic one', 'admin\u0661'],
    ['Latin with a Bengali digit', 'user\u09ea'],
    ['Latin with a Cyrillic combining mark', 'admin\u0483'],
    ['Latin with a modifier letter of no script (ʹ U+02B9, a prime)', 'o\u02b9brien'],
    ['Lisu with Coptic (two scripts that are neither Latin)', '\ua4f2\u2c9f'],
    ['Japanese with Hangul', '\u3072\ud55c'],
    ['Latin with Hangul and Hiragana', 'a\ud55c\u3072'],
  ])('refuses %s', (_label, text) => {
    expect(mixesScripts(text)).toBe(true);
  });
});

describe('looksLatin (whole-script confusables)', () => {
  it.each([
    ['Cyrillic ѕсоре (scope)', '\u0455\u0441\u043e\u0440\u0435'],
    ['Cyrillic аррӏе with digits and a dot (apple.42)', '\u0430\u0440\u0440\u04cf\u0435.42'],
    ['Cyrillic роре (pope)', '\u0440\u043e\u0440\u0435'],
    ['Greek οικος-like ορα (opa)', '\u03bf\u03c1\u03b1'],
  ])('refuses %s', (_label, text) => {
    expect(looksLatin(text)).toBe(true);
  });

  it.each([
    ['ASCII', 'scope'],
    ['no letters at all', '12345'],
    ['Cyrillic with a letter unlike any Latin one (иван)', '\u0438\u0432\u0430\u043d'],
    ['Cyrillic дмитрий.2000', '\u0434\u043c\u0438\u0442\u0440\u0438\u0439.2000'],
    ['Greek αλέξης', '\u03b1\u03bb\u03ad\u03be\u03b7\u03c2'],
  ])('accepts %s', (_label, text) => {
    expect(looksLatin(text)).toBe(false);
  });
});
