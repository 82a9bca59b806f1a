"""A second round of random spots, in the training split's files only, away from every question so far.

Usage (from the repository's root): .venv/bin/python tests/data/blind2k/writing/make_spots_round2.py WORK_DIR
Reads WORK_DIR/texts/ and tests/data/blind2k/train.jsonl; writes WORK_DIR/spots_NN.jsonl for NN = 15..22
(8 writers' batches), each spot as in make_spots.py, none within 400 characters of a training phrase.
"""
import json, random, re, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from qa.readers import load_transcript
from qa.text import sentence_spans, collapse_whitespace
from qa.training import phrase_spans

OUT = Path(sys.argv[1])
DATA = ROOT / 'tests' / 'data' / 'blind2k'
CORPUS = ROOT.parent / 'shared' / 'corpus'
rng = random.Random(20261203)
split = json.loads((DATA / 'split_by_briefing.json').read_text())
train = [json.loads(l) for l in (DATA / 'train.jsonl').read_text().splitlines()]
taken = {}
paths = {p.name: p for p in list(CORPUS.glob('wh-press-briefings/*.txt')) + list(CORPUS.glob('formats/*/*.*'))}
texts = {}
for q in train:
    if q['doc'] not in texts:
        texts[q['doc']] = load_transcript(paths[q['doc']], paths[q['doc']].parent)
    taken.setdefault(q['doc'], []).extend(phrase_spans(texts[q['doc']].raw, q['phrase']))
SKIP_SPEAKER = re.compile(r'moderator|operator', re.I)
spots = []
for name in sorted(texts):
    t = texts[name]
    want = 10 if not name.endswith('.txt') else 6
    turns = [x for x in t.turns if not x.is_question and len(t.raw[x.start:x.end].split()) >= 25
             and not SKIP_SPEAKER.search(x.speaker or '')]
    if not turns:
        continue
    weights = [len(t.raw[x.start:x.end].split()) for x in turns]
    picked, tries, used = [], 0, []
    while len(picked) < want and tries < 400:
        tries += 1
        x = rng.choices(turns, weights)[0]
        sents = sentence_spans(t.raw, x.start, x.end)
        if not sents:
            continue
        k = rng.randrange(len(sents))
        s, e = sents[k]
        if len(collapse_whitespace(t.raw[s:e]).split()) < 6:
            continue
        if any(a < e + 400 and s - 400 < b for a, b in taken.get(name, []) + used):
            continue
        used.append((s, e))
        lo, hi = max(0, k - 3), min(len(sents), k + 4)
        excerpt = (collapse_whitespace(t.raw[sents[lo][0]:s]) + ' >>>' + collapse_whitespace(t.raw[s:e]) + '<<< '
                   + collapse_whitespace(t.raw[e:sents[hi - 1][1]])).strip()
        q = None
        if x.question_turn is not None:
            qt = t.turns[x.question_turn]
            qw = collapse_whitespace(t.raw[qt.start:qt.end]).split()
            q = ' '.join(qw[:70]) + (' ...' if len(qw) > 70 else '')
        picked.append({'doc': name, 'date': t.date, 'title': t.title, 'speaker': x.speaker,
                       'turn_start': x.start, 'turn_end': x.end, 'reporter_asked': q, 'excerpt': excerpt})
    spots.extend(picked)
by_doc = {}
for s in spots:
    by_doc.setdefault(s['doc'], []).append(s)
order = list(by_doc)
rng.shuffle(order)
batches = [[] for _ in range(8)]
for d in order:
    min(batches, key=len).extend(by_doc[d])
for i, b in enumerate(batches, 15):
    with open(OUT / f'spots_{i:02d}.jsonl', 'w') as f:
        for j, s in enumerate(b, 1):
            f.write(json.dumps({'spot': f'w{i:02d}-{j:03d}', **s}, ensure_ascii=False) + '\n')
    print(i, len(b), len({s['doc'] for s in b}))
