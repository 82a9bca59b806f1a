"""Check a file of questions the archive cannot answer.

Usage: python3 check_unanswerable.py out_unanswerable_NN.jsonl
Each line: {"question", "kind": "offtopic"|"neartopic", "absent": ["term", ...]}.
For every question: ends with '?', 6 to 60 words; for neartopic, 1 to 4 absent terms, each term a
specific name or phrase the question depends on, found in none of the archive's files (whitespace
collapsed, case ignored). Offtopic questions may give absent terms too (checked the same way).
Prints problems; exits 1 if any.
"""
import json, re, sys
from pathlib import Path

TEXTS = Path(__file__).with_name('texts')
def norm(s): return re.sub(r'\s+', ' ', s).strip().lower()
corpus = [norm(p.read_text(encoding='utf-8')) for p in TEXTS.glob('*.txt')]
problems, ok, seen = [], 0, set()
for n, line in enumerate(open(sys.argv[1]), 1):
    if not line.strip():
        continue
    try:
        q = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f'line {n}: not JSON ({e})'); continue
    bad = []
    text = q.get('question', '')
    if norm(text) in seen:
        bad.append('duplicate question')
    seen.add(norm(text))
    if not text.rstrip().endswith('?') or not 6 <= len(text.split()) <= 60:
        bad.append('question should end with ? and be 6 to 60 words')
    if q.get('kind') not in ('offtopic', 'neartopic'):
        bad.append('kind must be offtopic or neartopic')
    terms = q.get('absent', [])
    if q.get('kind') == 'neartopic' and not 1 <= len(terms) <= 4:
        bad.append('neartopic needs 1 to 4 absent terms')
    for t in terms:
        hits = sum(norm(t) in c for c in corpus)
        if hits:
            bad.append(f'{t!r} occurs in {hits} files of the archive')
    if bad:
        problems.append(f'line {n}: ' + '; '.join(bad))
    else:
        ok += 1
for p in problems:
    print(p)
print(f'{ok} questions pass, {len(problems)} problems')
sys.exit(1 if problems else 0)
