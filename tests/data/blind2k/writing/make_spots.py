"""Random spots in officials' replies for blind question writers, and the split by briefing.

Usage (from the repository's root): .venv/bin/python tests/data/blind2k/writing/make_spots.py OUT_DIR
Writes OUT_DIR/texts/ (each file's text as the readers give it), OUT_DIR/spots_NN.jsonl (14 writers'
batches) and OUT_DIR/split.json (each file's split); the second copies of the two briefings posted twice postings
were then left out of the spots (14 spots) before the writers started.
"""
import json, random, re, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from qa.readers import load_transcript
from qa.text import sentence_spans, collapse_whitespace

SHARED = ROOT.parent / 'shared'
CORPUS = SHARED / 'corpus'
OUT = Path(sys.argv[1])
rng = random.Random(20261202)

def load(path): return [json.loads(l) for l in open(path) if l.strip()]
bt = load(SHARED / 'eval/blind-train-428.jsonl')
data = ROOT / 'tests' / 'data'
fitted = {q['doc'] for f in ['questions.jsonl', 'answers_tune.jsonl', 'fit_blind_20261202.jsonl'] for q in load(data / f)}

docs = sorted(CORPUS.glob('wh-press-briefings/*.txt')) + sorted(CORPUS.glob('formats/*/*.*'))
docs = [p for p in docs if p.suffix in ('.txt', '.html', '.pdf', '.vtt')]
texts = {}
(OUT / 'texts').mkdir(exist_ok=True)
for p in docs:
    t = load_transcript(p, p.parent)
    texts[p.name] = t
    (OUT / 'texts' / (p.name + '.txt')).write_text(t.raw, encoding='utf-8')

# duplicates: same collapsed text of the turns
def body(t): return collapse_whitespace(' '.join(t.raw[x.start:x.end] for x in t.turns))[:5000]
groups = {}
names = sorted(texts)
import difflib
dup = {}
for i, a in enumerate(names):
    for b in names[i+1:]:
        if a[:7] == b[:7] or abs(len(texts[a].raw) - len(texts[b].raw)) < 300:
            if body(texts[a])[:2000] == body(texts[b])[:2000]:
                dup[b] = a
print('duplicates', dup)

wh = [n for n in names if n.endswith('.txt')]
fm = [n for n in names if not n.endswith('.txt')]
leaders = [n for n in wh if n not in dup]
unfitted = [n for n in leaders if n not in fitted and not any(d == n or k == n for k, d in dup.items())]
rng.shuffle(unfitted)
test_wh = set(unfitted[:48])
rest = [n for n in leaders if n not in test_wh]
rng.shuffle(rest)
val_wh = set(rest[:30])
fm_sh = fm[:]; rng.shuffle(fm_sh)
html = [n for n in fm_sh if n.endswith('.html')]; pdf = [n for n in fm_sh if n.endswith('.pdf')]
test_fm = {html[0], html[1], pdf[0]}
val_fm = {html[2], pdf[1]}
split = {}
for n in names:
    lead = dup.get(n, n)
    split[n] = 'sealed_test' if lead in test_wh or n in test_fm else 'validation' if lead in val_wh or n in val_fm else 'train'
json.dump(split, open(OUT / 'split.json', 'w'), indent=1)
from collections import Counter
print(Counter(split.values()))

# spots
bt_phr = {}
for q in bt: bt_phr.setdefault(q['doc'], []).append(collapse_whitespace(q['phrase']).lower())
SKIP_SPEAKER = re.compile(r'moderator|operator', re.I)
spots = []
for n in names:
    t = texts[n]
    want = 11 if n in fm else 7
    turns = [x for x in t.turns if not x.is_question and len(t.raw[x.start:x.end].split()) >= 25
             and not SKIP_SPEAKER.search(x.speaker or '')]
    weights = [len(t.raw[x.start:x.end].split()) for x in turns]
    used, tries = set(), 0
    picked = []
    while len(picked) < want and tries < 400:
        tries += 1
        x = rng.choices(turns, weights)[0]
        sents = sentence_spans(t.raw, x.start, x.end)
        if not sents: continue
        k = rng.randrange(len(sents))
        s, e = sents[k]
        if (n, x.index, k) in used or any((n, x.index, j) in used for j in (k-1, k+1)): continue
        target = collapse_whitespace(t.raw[s:e]).lower()
        if len(target.split()) < 6: continue
        if any(p in collapse_whitespace(t.raw[max(x.start, s-400):e+400]).lower() for p in bt_phr.get(n, [])): continue
        used.add((n, x.index, k))
        lo, hi = max(0, k-3), min(len(sents), k+4)
        excerpt = (collapse_whitespace(t.raw[sents[lo][0]:s]) + ' >>>' + collapse_whitespace(t.raw[s:e]) + '<<< ' +
                   collapse_whitespace(t.raw[e:sents[hi-1][1]])).strip()
        q = None
        if x.question_turn is not None:
            qt = t.turns[x.question_turn]
            qw = collapse_whitespace(t.raw[qt.start:qt.end]).split()
            q = ' '.join(qw[:70]) + (' ...' if len(qw) > 70 else '')
        picked.append({'doc': n, 'date': t.date, 'title': t.title, 'speaker': x.speaker,
                       'turn_start': x.start, 'turn_end': x.end, 'reporter_asked': q, 'excerpt': excerpt})
    spots.extend(picked)
print('spots', len(spots), Counter(split[s['doc']] for s in spots))
# assign to helpers by document, 14 batches
by_doc = {}
for s in spots: by_doc.setdefault(s['doc'], []).append(s)
doc_order = list(by_doc); rng.shuffle(doc_order)
batches = [[] for _ in range(14)]
for d in doc_order:
    min(batches, key=len).extend(by_doc[d])
for i, b in enumerate(batches, 1):
    with open(OUT / f'spots_{i:02d}.jsonl', 'w') as f:
        for j, s in enumerate(b, 1):
            s = {'spot': f'w{i:02d}-{j:03d}', **s}
            f.write(json.dumps(s, ensure_ascii=False) + '\n')
    print(i, len(b), len({s['doc'] for s in b}))
