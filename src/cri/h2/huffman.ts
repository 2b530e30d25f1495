// The Huffman code of HPACK (RFC 7541, Appendix B). The code is canonical:
// codes of one length are consecutive and follow symbol order, so the code
// lengths alone define it. Index 256 is EOS.
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const MAX_LENGTH = 30;
const EOS = 256;

/**
 * Canonical decoding tables: for each length, the first code of that length,
 * how many codes have it, and where its symbols start in `symbols` (symbols
 * sorted by length, then value).
 */
const firstCode = new Array<number>(MAX_LENGTH + 1).fill(0);
const countOf = new Array<number>(MAX_LENGTH + 1).fill(0);
const offsetOf = new Array<number>(MAX_LENGTH + 1).fill(0);
const symbols: number[] = [];
{
  for (const l of CODE_LENGTHS) countOf[l]!++;
  let code = 0;
  for (let l = 1; l <= MAX_LENGTH; l++) {
    firstCode[l] = code;
    offsetOf[l] = symbols.length;
    for (let s = 0; s < CODE_LENGTHS.length; s++) if (CODE_LENGTHS[s] === l) symbols.push(s);
    code = (code + countOf[l]!) * 2;
  }
}

/** The code of one symbol (for tests and encoders): [code, length]. */
export function huffmanCode(symbol: number): [number, number] {
  const len = CODE_LENGTHS[symbol]!;
  const rank = symbols.indexOf(symbol) - offsetOf[len]!;
  return [firstCode[len]! + rank, len];
}

/**
 * Decodes a Huffman-coded string. Returns undefined when the input is not a
 * valid encoding: a code of EOS, or padding longer than 7 bits or not made of
 * the most significant bits of EOS (all ones), as RFC 7541 section 5.2 says.
 */
export function huffmanDecode(input: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const index = code - firstCode[len]!;
      if (index >= 0 && index < countOf[len]!) {
        const sym = symbols[offsetOf[len]! + index]!;
        if (sym === EOS) return undefined;
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len === MAX_LENGTH) {
        return undefined;
      }
    }
  }
  if (len > 7 || code !== 2 ** len - 1) return undefined;
  return Buffer.from(out);
}
