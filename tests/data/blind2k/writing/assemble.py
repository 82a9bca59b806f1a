"""Assemble tests/data/blind2k from the writers' files, the shared blind-train-428 and the split by briefing.

Usage: python3 assemble.py WORK_DIR SPLIT_JSON OUT_DIR
(WORK_DIR: the spots and the writers' out_NN.jsonl and out_unanswerable_X.jsonl files)
"""
import json, random, re, sys
from collections import Counter
from pathlib import Path

work, split_file, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
SHARED = Path(__file__).resolve().parents[4].parent / 'shared'
split = json.loads(split_file.read_text())
rows = {name: [] for name in ('train', 'validation', 'sealed_test')}
for line in (SHARED / 'eval' / 'blind-train-428.jsonl').read_text().splitlines():
    q = json.loads(line)
    rows[split[q['doc']]].append({'id': q['id'], 'question': q['question'], 'doc': q['doc'], 'phrase': q['phrase'],
                                  'kind': q['kind'], 'answer': q['answer'], 'written': 'blind-train-428'})
spots = {}
for f in sorted(work.glob('spots_*.jsonl')):
    for line in f.read_text().splitlines():
        s = json.loads(line); spots[s['spot']] = s
skipped = 0
for f in sorted(work.glob('out_[0-9]*.jsonl')):
    for line in f.read_text().splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        if 'skip' in q:
            skipped += 1; continue
        s = spots[q['spot']]
        rows[split[s['doc']]].append({'id': 'b2k-' + q['spot'], 'question': q['question'], 'doc': s['doc'],
                                      'phrase': q['phrase'], 'kind': q['kind'], 'answer': q['answer'],
                                      'written': 'blind2k'})
out.mkdir(parents=True, exist_ok=True)
for name, items in rows.items():
    items.sort(key=lambda q: q['id'])
    (out / f'{name}.jsonl').write_text(''.join(json.dumps(q, ensure_ascii=False) + '\n' for q in items))
    print(name, len(items), len({q['doc'] for q in items}), dict(Counter(q['kind'] for q in items)))
un = []
for f in sorted(work.glob('out_unanswerable_*.jsonl')):
    tag = f.stem.rsplit('_', 1)[1]
    for n, line in enumerate(f.read_text().splitlines(), 1):
        if line.strip():
            q = json.loads(line)
            un.append({'id': f'un-{tag}-{n:03d}', 'question': q['question'], 'kind': q['kind'], 'absent': q.get('absent', [])})
random.Random(20261202).shuffle(un)
parts = {'sealed_test': un[:100], 'validation': un[100:190], 'train': un[190:]}
for name, items in parts.items():
    items.sort(key=lambda q: q['id'])
    (out / f'unanswerable_{name}.jsonl').write_text(''.join(json.dumps(q, ensure_ascii=False) + '\n' for q in items))
    print('unanswerable', name, len(items), dict(Counter(q['kind'] for q in items)))
print('skipped spots', skipped)
