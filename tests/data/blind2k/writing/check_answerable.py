"""Check a file of blind-written questions against its spots file.

Usage: python3 check_answerable.py spots_NN.jsonl out_NN.jsonl
Each output line: {"spot", "question", "phrase", "kind", "answer"} or {"spot", "skip": "why"}.
Prints every problem; exits 1 if any. A question passes when:
  * its spot exists and is answered once;
  * kind is one of paraphrase, number, who, date, why, said, fact;
  * the phrase is 4 to 14 words, copied verbatim from the speaker's reply at that spot: found
    (whitespace collapsed, case ignored) inside that reply (the turn the spot is in);
  * the answer is short (1 to 20 words) and the question ends with '?' and is 8 to 60 words;
  * the question does not copy 5 or more consecutive words of the phrase.
"""
import json, re, sys
from pathlib import Path

TEXTS = Path(__file__).with_name('texts')
KINDS = {'paraphrase', 'number', 'who', 'date', 'why', 'said', 'fact'}

def norm(s): return re.sub(r'\s+', ' ', s).strip().lower()
def words(s): return re.findall(r"[a-z0-9']+", s.lower())

spots = {json.loads(l)['spot']: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
problems, seen, ok, skips = [], set(), 0, 0
for n, line in enumerate(open(sys.argv[2]), 1):
    if not line.strip():
        continue
    try:
        q = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f'line {n}: not JSON ({e})'); continue
    sid = q.get('spot')
    if sid not in spots:
        problems.append(f'line {n}: unknown spot {sid!r}'); continue
    if sid in seen:
        problems.append(f'{sid}: answered twice'); continue
    seen.add(sid)
    if 'skip' in q:
        skips += 1; continue
    s = spots[sid]
    bad = []
    for f in ('question', 'phrase', 'kind', 'answer'):
        if not isinstance(q.get(f), str) or not q[f].strip():
            bad.append(f'missing {f}')
    if bad:
        problems.append(f'{sid}: ' + ', '.join(bad)); continue
    if q['kind'] not in KINDS:
        bad.append(f"kind {q['kind']!r} not one of {sorted(KINDS)}")
    pw = q['phrase'].split()
    if not 4 <= len(pw) <= 14:
        bad.append(f'phrase has {len(pw)} words (4 to 14)')
    raw = (TEXTS / (s['doc'] + '.txt')).read_text(encoding='utf-8')
    turn = norm(raw[s['turn_start']:s['turn_end']])
    if norm(q['phrase']) not in turn:
        where = 'elsewhere in the file' if norm(q['phrase']) in norm(raw) else 'nowhere in the file'
        bad.append(f'phrase not found in the reply at this spot ({where}); copy it exactly')
    if not 1 <= len(q['answer'].split()) <= 20:
        bad.append('answer should be 1 to 20 words')
    qw = q['question'].split()
    if not q['question'].rstrip().endswith('?') or not 8 <= len(qw) <= 60:
        bad.append('question should end with ? and be 8 to 60 words')
    ph, qs = words(q['phrase']), ' ' + ' '.join(words(q['question'])) + ' '
    if any(' ' + ' '.join(ph[i:i+5]) + ' ' in qs for i in range(len(ph) - 4)):
        bad.append('question copies 5+ consecutive words of the phrase: reword it')
    if bad:
        problems.append(f'{sid}: ' + '; '.join(bad))
    else:
        ok += 1
missing = [s for s in spots if s not in seen]
for p in problems:
    print(p)
print(f'{ok} questions pass, {skips} skipped, {len(problems)} problems, {len(missing)} spots not yet done'
      + (f' (first: {missing[0]})' if missing else ''))
sys.exit(1 if problems else 0)
