/**
 * Mixed-script detection for the local part of an email address, as UTS #39 "highly restrictive"
 * defines it: the scripts of every character (letters, digits and marks alike) are read from
 * Unicode's Script_Extensions, Common and Inherited characters go with any script, and the
 * string must resolve to one script, or to Latin with the scripts Japanese, Chinese or Korean
 * are written in.
 * @see https://www.unicode.org/reports/tr39/#Restriction_Level_Detection
 */

// Every script of Unicode 17 by its ISO 15924 code. A regular expression, not a table of ranges:
// the runtime's own Unicode data answers, so there is no copy to keep up to date. Codes the
// runtime does not know yet are left out (their characters are unassigned to it as well).
const SCRIPT_CODES =
  `Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Berf Bhks Bopo Brah
  Brai Bugi Buhd Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp
  Elba Elym Ethi Gara Geor Glag Gong Gonm Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr
  Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo
  Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi
  Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya Osge Osma
  Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd
  Sidd Sidt Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt
  Tayo Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo
  Xsux Yezi Yiii Zanb`.split(/\s+/);

const SCRIPTS = SCRIPT_CODES.flatMap((code) => {
  try {
    return [{ code, pattern: new RegExp(`\\p{Script_Extensions=${code}}`, 'u') }];
  } catch {
    return [];
  }
});

// Characters that belong to no script in particular (ASCII digits and punctuation, most
// combining marks): UTS #39 lets them go with any script.
const ANY_SCRIPT = /[\p{Script_Extensions=Zyyy}\p{Script_Extensions=Zinh}]/u;
// Letters among those (modifier letters such as ʼ U+02BC, which reads as an apostrophe) are kept
// apart as a script of their own: "oʼbrien" would read as "o'brien".
const LETTER = /\p{L}/u;

// The writing systems UTS #39 adds to a character's scripts: Japanese (Han, Hiragana, Katakana),
// Chinese with Bopomofo, and Korean (Han, Hangul).
const AUGMENT: Record<string, readonly string[]> = {
  Hani: ['Hanb', 'Jpan', 'Kore'],
  Hira: ['Jpan'],
  Kana: ['Jpan'],
  Hang: ['Kore'],
  Bopo: ['Hanb'],
};
// "Highly restrictive": one of these may be mixed with Latin.
const WITH_LATIN = ['Jpan', 'Hanb', 'Kore'];

function scriptsOf(char: string): Set<string> | undefined {
  if (ANY_SCRIPT.test(char)) return LETTER.test(char) ? new Set(['Zyyy']) : undefined;
  const found = new Set<string>();
  for (const { code, pattern } of SCRIPTS) {
    if (!pattern.test(char)) continue;
    found.add(code);
    for (const extra of AUGMENT[code] ?? []) found.add(extra);
  }
  // A script the runtime knows and this list does not: a script of its own.
  if (found.size === 0) found.add('Zzzz');
  return found;
}

/**
 * Whether `text` mixes scripts in a way UTS #39 "highly restrictive" does not allow: Latin with
 * Cyrillic (`аdmin`), Latin with digits of another script (`g००gle` with Devanagari zeros), or
 * a Cyrillic mark on Latin letters. One script, or Latin with Japanese, Chinese or Korean, is fine.
 */
export function mixesScripts(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- the whole ASCII range, controls included
  if (/^[\u0000-\u007f]*$/.test(text)) return false;
  const sets: Set<string>[] = [];
  for (const char of text) {
    const scripts = scriptsOf(char);
    if (scripts !== undefined) sets.push(scripts);
  }
  const [first, ...rest] = sets;
  if (first === undefined) return false;
  const resolved = [...first].filter((code) => rest.every((set) => set.has(code)));
  if (resolved.length > 0) return false;
  return !WITH_LATIN.some((mix) => sets.every((set) => set.has('Latn') || set.has(mix)));
}

// Lower-case letters drawn like Latin ones: the Cyrillic set Chrome's IDN spoof checker uses for
// whole-script confusables ("ѕсоре" reads as "scope"), and the Greek letters confusables.txt maps
// to a single Latin letter.
const CYRILLIC_LOOKING_LATIN = /^[асԁеһіјӏорԛѕԝхуъьҽпгѵѡ]+$/u;
const GREEK_LOOKING_LATIN = /^[αικνορυχγ]+$/u;
const LETTERS = /\p{L}/gu;

/**
 * Whether `text` (lower-case) is a whole-script confusable of a Latin string: every letter of it
 * is a Cyrillic, or every one a Greek, letter drawn like a Latin one. Such a string mixes no
 * scripts, so {@link mixesScripts} passes it, yet it reads exactly like another, Latin address.
 * @see https://www.unicode.org/reports/tr39/#Whole_Script_Confusables
 */
export function looksLatin(text: string): boolean {
  const letters = (text.match(LETTERS) ?? []).join('');
  return CYRILLIC_LOOKING_LATIN.test(letters) || GREEK_LOOKING_LATIN.test(letters);
}
