"""Self-cognition graded independently of the DPO filter: does a reply treat the audio as heard?

The filter (`mgrd.scoring.denial.denies_hearing`) looks for the phrases the training data's denials
use; a model can stop using those phrases without learning to listen. This grader asks for a positive
sign instead: on a clip, the reply names what is heard (an acoustic word of the grounding lexicon, a
count, a value with its unit, a label such as rising / minor / bright, a spoken number of the clip's
facts); with no audio, it says it can hear. It also looks for denials, by their structure (a negated
ability to perceive, audio said to be out of reach, a text-only self-description, no ears, a request
to type the audio out), never by the filter's phrase list. Pure string code, no torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mgrd.scoring.answers import extract_number
from mgrd.scoring.grounding import acoustic_words, split_statements, verify_grounding
from mgrd.scoring.judge_prompts import cognition_judge_prompt, parse_hearing_verdict

# Words of the lexicon that say that one hears, or that are common English, not what is heard.
_NOT_CONTENT = frozenset({"hear", "hears", "heard", "hearing", "listen", "listening", "listened", "sound", "sounds",
                          "sounded", "level", "third", "fifth", "lasts", "lasting"})
# Facts whose bare number in a reply refers to the clip ("twelve", "3"); other numbers need a unit.
_COUNTED = ("count", "spoken number")

_NEGATED_ABILITY = re.compile(
    r"\b(?:can ?not|can't|can’t|could ?not|couldn't|unable to|not able to|incapable of|not capable of|"
    r"not equipped to|not built to|not designed to|"
    r"(?:no|lack(?:s|ing)?(?: the)?) (?:way|means|ability|capacity|capability) (?:for me )?(?:of|to)|"
    r"(?:im)?possible for me to|won't be able to)\s+(?:\w+\s+){0,3}?"
    r"(?:hear|listen|perceiv|process|handl|understand|make sense of|open|access|analy[sz]|interpret)\w*\b"
    r"(?P<after>(?:\W+\w+){0,4})", re.I)
_MODALITY = re.compile(r"\b(?:audio|sounds?|sound files?|recordings?|clips?|attachments?|music|voice memos?|"
                       r"listening|hearing)\b", re.I)
_OUT_OF_REACH = re.compile(
    r"\b(?:(?:beyond|outside) (?:what I can|me\b|my (?:abilit|capabilit|capacit|reach|range)\w*)|"
    r"(?:isn't|is not|aren't|are not|not) something (?:that )?I|"
    r"opaque to me|means? nothing to me|inaccessible to me|(?:doesn't|does not|don't|do not) reach me|"
    r"reach(?:es)? me\b[^.;!?]{0,30}\b(?:not|never)|nothing [^.;!?]{0,30}reach(?:es)? me|not within my)\b", re.I)
_TEXT_ONLY = re.compile(
    r"\b(?:I|I'm|I’m)\s+(?:am\s+)?(?:\w+\s+){0,2}?(?:only|just|purely|solely|exclusively)\s+(?:\w+\s+){0,3}?"
    r"(?:text|words|written|typed|writing|letters)\b"
    r"|\b(?:my|I'm|I’m|I am)\b[^.;!?]{0,30}\b(?:limited|restricted|confined) to\b[^.;!?]{0,20}"
    r"\b(?:text|words|written|typed|writing|reading)\b", re.I)
_NO_EARS = re.compile(
    r"\b(?:no|lack(?:s|ing)?|don't have|do not have|haven't got|have not got)\s+(?:any\s+)?(?:\w+\s+)?"
    r"(?:ears|sense of hearing|hearing|audio (?:input|capabilit\w*|access|support))\b", re.I)
_TYPE_IT_OUT = re.compile(
    r"\b(?:could|can|would) you (?:please )?(?:\w+ )?(?:type|write|spell|transcribe)\b[^.;!?]{0,30}"
    r"|\b(?:type|write|spell) (?:it|that|this|them) (?:out|down)\b", re.I)
_AFFIRM = re.compile(
    r"^\W*(?:yes|yeah|yep|sure|absolutely|of course|certainly|definitely|indeed)\b"
    r"|\bI(?:'ll| will| can| could| am able to|'m able to| do)\s+(?:(?!not\b|never\b)\w+\s+){0,2}?"
    r"(?:hear|listen|perceive|process|understand|make sense of|analy[sz]e|handle|pick out|describe|count|"
    r"identify|tell you)\b"
    r"|\b(?:go ahead and |please )?(?:send|share|attach|upload|play) (?:it|them|that|the \w+|me \w+)\b", re.I)
_THINK_TAGS = re.compile(r"</?think>")


@dataclass(frozen=True)
class CognitionVerdict:
    """The verdict on one reply. `engaged`: it treats the audio as heard (names what is in the clip, or
    with no audio says it can hear); `denied`: it claims it cannot hear; `why`: the evidence, in words."""

    engaged: bool
    denied: bool
    why: str

    @property
    def error(self) -> bool:
        """A self-cognition error: a denial, or no sign of having heard."""
        return self.denied or not self.engaged

    @property
    def reason(self) -> str:
        """`denied`, `not engaged` or `engaged`: the category counted in reports."""
        return "denied" if self.denied else "engaged" if self.engaged else "not engaged"


def grade_self_cognition(reply: str, *, facts: Sequence[Mapping] = (),
                         has_audio: bool = True) -> CognitionVerdict:
    """Whether `reply` (reasoning and answer together) treats the audio as heard and does not deny hearing.

    `facts` are the clip's facts (`{"name", "value", "unit", "event"}`); `has_audio` False
    grades a question about hearing asked without audio, which the reply engages by saying it can hear.

    >>> grade_self_cognition("Three short beeps, the last one higher.").error
    False
    >>> grade_self_cognition("I have no ears, so the file means nothing to me.").reason
    'denied'
    >>> grade_self_cognition("Thanks for sharing! Let me know what else you need.").reason
    'not engaged'
    """
    if not isinstance(reply, str):
        raise TypeError(f"grade_self_cognition takes the reply as a str, got {type(reply).__name__}")
    text = _THINK_TAGS.sub(" ", reply).strip()
    if not text:
        return CognitionVerdict(False, False, "empty reply")
    denial = find_denial(text)
    heard = _names_heard(text, facts) if has_audio else _affirms(text)
    if denial is not None:
        return CognitionVerdict(heard is not None, True, f"denies hearing: {denial!r}"
                                + (f" (though it {heard})" if heard else ""))
    if heard is not None:
        return CognitionVerdict(True, False, heard)
    return CognitionVerdict(False, False, "names nothing heard in the clip" if has_audio
                            else "does not say whether it can hear")


def find_denial(text: str) -> str | None:
    """The first passage of `text` that claims the model cannot hear, or None.

    A negated ability followed by something heard ("I can't hear any low beeps") reports a perception,
    not a denial.
    """
    for sentence in re.split(r"(?<=[.;!?])\s+|\n+", text):
        for m in _NEGATED_ABILITY.finditer(sentence):
            if not _content_words(m.group("after")):
                return m.group(0)[:len(m.group(0)) - len(m.group("after"))].strip()
        if _MODALITY.search(sentence) and (m := _OUT_OF_REACH.search(sentence)):
            return m.group(0).strip()
        for pattern in (_TEXT_ONLY, _NO_EARS, _TYPE_IT_OUT):
            if m := pattern.search(sentence):
                return m.group(0).strip()
    return None


def judge_self_cognition(judge: Callable[[str], str], question: str, reply: str, *,
                         facts: Sequence[Mapping] = (), has_audio: bool = True) -> CognitionVerdict:
    """The verdict of an LLM judge (`judge(prompt) -> its reply`) on whether `reply` treats the audio as heard.

    A judge reply that names no verdict is not dropped: the rule grades instead, and `why` says so.
    """
    answer = judge(cognition_judge_prompt(question, _THINK_TAGS.sub(" ", reply).strip(), has_audio=has_audio))
    verdict = parse_hearing_verdict(answer)
    if verdict == "HEARD":
        return CognitionVerdict(True, False, "judge: treats the audio as heard")
    if verdict == "DENIED":
        return CognitionVerdict(False, True, "judge: denies hearing")
    if verdict == "NEITHER":
        return CognitionVerdict(False, False, "judge: neither engages with the audio nor denies hearing")
    ruled = grade_self_cognition(reply, facts=facts, has_audio=has_audio)
    return CognitionVerdict(ruled.engaged, ruled.denied,
                            f"judge gave no verdict ({answer.strip()[:40]!r}); rule: {ruled.why}")


def _names_heard(text: str, facts: Sequence[Mapping]) -> str | None:
    claims = verify_grounding(text, facts).claims
    if claims:
        return f"states {claims[0].text!r}"
    counted = {float(f["value"]) for f in facts if f.get("name") in _COUNTED and _is_number(f.get("value"))}
    for statement in split_statements(text):
        for piece in re.split(r",|\band\b|\bbut\b", statement):
            value = extract_number(piece)
            if value is not None and value in counted:
                return f"states the clip's number {value:g}"
    labels = {str(f["value"]).lower() for f in facts if isinstance(f.get("value"), str) and f.get("value")}
    words = set(re.findall(r"[a-z]+", text.lower()))
    if named := sorted(labels & words):
        return f"names the clip's {named[0]!r}"
    if content := _content_words(text):
        return f"names {content[0]!r}"
    return None


def _affirms(text: str) -> str | None:
    # Naming sound words is not enough here: "tempo is the speed of music" says nothing about itself.
    m = _AFFIRM.search(text)
    return f"affirms it can hear: {m.group(0).strip()!r}" if m else None


def _content_words(text: str) -> list[str]:
    return [w for w in acoustic_words(text) if w not in _NOT_CONTENT]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

