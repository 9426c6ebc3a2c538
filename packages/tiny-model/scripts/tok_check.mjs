// Tokenizes a JSON list of texts with the engine's ClipTokenizer; prints the id lists as JSON.
// Usage: node scripts/tok_check.mjs <tokenizerDir> <texts.json>
import { readFileSync } from 'node:fs';
import { ClipTokenizer } from '@imagegen/engine';
const dir = process.argv[2];
const vocab = JSON.parse(readFileSync(dir + '/vocab.json', 'utf8'));
const merges = readFileSync(dir + '/merges.txt', 'utf8')
  .split('\n')
  .filter((l, i) => l && !(i === 0 && l.startsWith('#version')));
const tok = new ClipTokenizer({ vocab, merges });
const texts = JSON.parse(readFileSync(process.argv[3], 'utf8'));
console.log(JSON.stringify(texts.map((t) => tok.encode(t).ids)));
