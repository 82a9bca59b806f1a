"""Video captions: WebVTT (.vtt) read with webvtt-py, SubRip (.srt) with srt.

The extracted text is what was said, once, in readable sentences:

- rolling captions (YouTube's automatic ones repeat the line before in every cue, and add a
  10 ms cue that only holds it) are merged: a cue's leading lines that repeat the last lines
  already taken are dropped, so each word appears once;
- word timing tags (``<00:00:04.960><c> begin</c>``) and other cue markup are removed, and
  entities decoded (``&gt;&gt;`` is ``>>``);
- ``>>`` (and a dialogue dash "- " at a line's start) begins a new speaker turn; the speaker is
  unnamed (``None``) and told apart by turn, unless a WebVTT voice tag (``<v Name>``) or a
  capitals label (``>> SPEAKER NAME:``) names them;
- a turn's lines are joined into one paragraph, the first letter of each sentence capitalised;
  turns are separated by a blank line.

Each caption line keeps the time its cue starts: ``Transcript.times`` holds (offset, seconds)
for each, so a passage, an answer or a highlight can say where in the video it is.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import PurePosixPath

from qa.transcripts import (
    Transcript,
    decode,
    TranscriptError,
    Turn,
    date_from_name,
    number_turns,
    display_speaker,
    make_doc_id,
)

_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # cue markup and SRT's {\an8}-style overrides
_TURN = re.compile(r"\s*(?:>>|&gt;&gt;)\s*")
_NAMED = re.compile(r"^(?P<name>[A-Z][A-Z .'\u2019-]{1,40}[A-Z.]):\s+")
_DASH = re.compile(r"^-\s+")
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"'\u201d\u2019)]*[ \t]+)([a-z])", re.M)
_LONE_I = re.compile(r"(?<![\w'\u2019])i(?=(?:['\u2019](?:m|ll|ve|d)\b)|\s)")
_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")


def read_vtt(data: bytes, relative_path: str, digest: str) -> Transcript:
    import webvtt
    from webvtt.errors import MalformedFileError

    text = _decode(data, relative_path)
    try:
        captions = webvtt.from_buffer(io.StringIO(text))
        cues = [(_seconds(caption.start), caption.raw_text, caption.voice) for caption in captions]
    except (MalformedFileError, ValueError, IndexError, AttributeError) as error:
        raise TranscriptError(f"{relative_path}: not a readable WebVTT file ({error or 'malformed'})") from None
    return _transcript(cues, relative_path, digest, "vtt")


def read_srt(data: bytes, relative_path: str, digest: str) -> Transcript:
    import srt

    text = _decode(data, relative_path)
    try:
        cues = [(subtitle.start.total_seconds(), subtitle.content, None) for subtitle in srt.parse(text)]
    except (srt.SRTParseError, ValueError) as error:
        raise TranscriptError(f"{relative_path}: not a readable SubRip file ({error})") from None
    return _transcript(cues, relative_path, digest, "srt")


def _decode(data: bytes, relative_path: str) -> str:
    # Caption files often open with a byte-order mark, which is not caption text.
    return decode(data, relative_path).removeprefix("\ufeff")


def _seconds(stamp: str) -> float:
    match = _TIMESTAMP.fullmatch(stamp.strip())
    if not match:
        raise ValueError(f"bad timestamp {stamp!r}")
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def _lines(cues: list[tuple[float, str, str | None]]) -> list[tuple[float, str, str | None]]:
    """Each caption line once, with its cue's start: a rolling cue's repeated lines dropped."""
    taken: list[str] = []
    result = []
    for seconds, content, voice in cues:
        lines = [" ".join(html.unescape(_TAG.sub("", line)).split()) for line in content.splitlines()]
        lines = [line for line in lines if line]
        repeated = 0
        for size in range(min(len(lines), len(taken)), 0, -1):
            if lines[:size] == taken[-size:]:
                repeated = size
                break
        for line in lines[repeated:]:
            taken.append(line)
            result.append((seconds, line, voice))
    return result


def _turns(lines: list[tuple[float, str, str | None]]) -> list[tuple[str | None, list[tuple[float, str]]]]:
    """Speaker turns as (speaker, [(seconds, words)]): a new one at each >>, dash or new voice."""
    turns: list[tuple[str | None, list[tuple[float, str]]]] = []
    voice_now: str | None = None
    for seconds, line, voice in lines:
        if voice and voice != voice_now:
            turns.append((voice, []))
            voice_now = voice
        parts = _TURN.split(line)
        for position, part in enumerate(parts):
            new_turn = position > 0 or not turns or (position == 0 and bool(_DASH.match(part)))
            part = _DASH.sub("", part).strip()
            if new_turn:
                named = _NAMED.match(part)
                speaker = display_speaker(named.group("name")) if named else voice
                if named:
                    part = part[named.end():]
                turns.append((speaker, []))
            if part:
                turns[-1][1].append((seconds, part))
    return [(speaker, pieces) for speaker, pieces in turns if pieces]


def _readable(text: str) -> str:
    """Capitalise each sentence's first letter and a lone 'i' (the length never changes)."""
    text = _SENTENCE_START.sub(lambda m: m.group(0)[:-1] + _upper(m.group(1)), text)
    return _LONE_I.sub("I", text)


def _upper(letter: str) -> str:
    upper = letter.upper()
    return upper if len(upper) == 1 else letter


def _transcript(cues: list[tuple[float, str, str | None]], relative_path: str, digest: str, fmt: str) -> Transcript:
    turns = _turns(_lines(cues))
    raw = ""
    times: list[tuple[int, float]] = []
    spans: list[tuple[str | None, int, int, bool]] = []
    for speaker, pieces in turns:
        if raw:
            raw += "\n\n"
        start = len(raw)
        for position, (seconds, words) in enumerate(pieces):
            if position:
                raw += " "
            if not times or times[-1][1] != seconds:
                times.append((len(raw), seconds))
            raw += words
        turn_text = raw[start:]
        spans.append((speaker, start, len(raw), _asks(turn_text)))
    raw = _readable(raw)
    if not any(character.isalnum() for character in raw):
        raise TranscriptError(f"{relative_path}: no caption text")
    return Transcript(
        doc_id=make_doc_id(relative_path),
        path=relative_path,
        title=_title(relative_path),
        date=date_from_name(relative_path),
        source=None,
        url=None,
        raw=raw,
        turns=number_turns(spans),
        format=fmt,
        content_hash=digest,
        times=tuple(times),
    )


def _asks(text: str) -> bool:
    """A turn that ends on a question, or a short one that asks: a reporter's question."""
    stripped = text.rstrip()
    return stripped.endswith("?") or ("?" in stripped and len(stripped.split()) < 80)


def _title(relative_path: str) -> str:
    """Captions carry no title: the file's name, without its date, language code and suffix."""
    name = PurePosixPath(relative_path).name
    stem = re.sub(r"(?:\.[a-z]{2,3}(?:-[A-Za-z]{2,4})?)?\.(?:vtt|srt)$", "", name, flags=re.I)
    stem = re.sub(r"^\d{4}-\d{2}-\d{2}[_ -]*", "", stem)
    words = " ".join(re.split(r"[_\s]+|(?<=[a-z])-(?=[a-z])", stem)).strip() or name
    return words[0].upper() + words[1:]
