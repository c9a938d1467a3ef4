/**
 * Pieces of DogStatsD's grammar (names, separators, types, numbers, event and service-check
 * prefixes, line breaks) that fast-check strings together into packets: random bytes almost
 * never form a line the parser gets far into, these do. Shared by the parser's fuzz test
 * (src/agent/dogstatsd-shapes.test.ts) and the real agent's bad-input test.
 */
export const DOGSTATSD_GRAMMAR_PIECES: readonly string[] = [
  'a.b',
  'x',
  'fuzz.m',
  ':',
  '|',
  '#',
  '|#',
  '@',
  ',',
  '1',
  '2',
  '-2.5',
  '0.5',
  '1e400',
  'NaN',
  'e',
  'c',
  'g',
  's',
  'h',
  'd',
  'ms',
  '\n',
  '\r',
  ' ',
  '_e{',
  '_sc',
  't:v',
];
