"""Judge prompts for the judged benchmarks and the parsers of the judges' replies (pure strings).

Big Bench Audio: Artificial Analysis' CORRECT/INCORRECT prompt, as given in
reference/benchmarks.md §5.2. WildSpeech-Bench: a 1–10 rubric written from the description of its
`meta_prompt` (voice-communication view, general + per-query checklist, score bands, a final
`Score: N` line); it is not the verbatim official text, so pass the official template with
`--judge-prompts FILE` to reproduce the published numbers exactly. Every prompt used is stored with
the results. Self-cognition: a HEARD/DENIED/NEITHER prompt asking whether a reply treats the audio as
heard, the judged form of mgrd.scoring.cognition's grader.
"""

from __future__ import annotations

import re

BBA_JUDGE_TEMPLATE = (
    "Assess whether the following CANDIDATE ANSWER is CORRECT or INCORRECT.\n"
    "For the CANDIDATE ANSWER to be correct, it must be consistent with the OFFICIAL ANSWER.\n"
    "If the CANDIDATE ANSWER contradicts itself, assess the first proposed answer.\n"
    "If the CANDIDATE ANSWER provides a final answer and working, assess the final answer only.\n"
    "If the CANDIDATE ANSWER includes irrelevant information, assess only the relevant information.\n"
    "If the CANDIDATE ANSWER includes a numeric value it is ok if it is spelled e.g. 7 or seven\n"
    "It is ok if the CANDIDATE ANSWER involves a misspelling of a person's name e.g. Leda or Lida, "
    "Autry or Audrie.\n"
    "  \n"
    "The question, for reference only: START QUESTION {question} \\n\\nEND QUESTION\n"
    "\n"
    "The OFFICIAL ANSWER:{official_answer}\n"
    "\n"
    "BEGIN CANDIDATE ANSWER TO ASSESS\n"
    "\n"
    "{candidate_answer}\n"
    "\n"
    "END CANDIDATE ANSWER TO ASSESS\n"
    "\n"
    "Reply only with CORRECT or INCORRECT."
)

WILDSPEECH_GENERAL_CHECKLIST = (
    "- Following the user's instructions fully is essential; a response that does not is seriously flawed.\n"
    "- Factual accuracy is essential; factual errors are serious flaws.\n"
    "- Heavy repetition in the response is a serious flaw.\n"
)

WILDSPEECH_JUDGE_TEMPLATE = (
    "# Task\n\n"
    "You judge the quality of an AI assistant's reply to a user. The user spoke the query and the "
    "assistant replied by voice; both are given to you as text. Judge the reply as spoken "
    "communication: what a listener would get from hearing it.\n"
    "Read the query first and work out what the user wants, then judge the reply against the rules.\n\n"
    "## User query\n<query>\n{query}\n</query>\n\n"
    "## Assistant reply\n<reply>\n{response}\n</reply>\n\n"
    "## Checklist (guidance, not an answer key; a reply need not cover every point)\n"
    "<checklist>\n{checklist}\n</checklist>\n\n"
    "## Scale (1 to 10)\n"
    "- 1-2: no value; irrelevant, or many factual errors or serious flaws.\n"
    "- 3-4: some value, but several errors or serious flaws, or the request is poorly met.\n"
    "- 5-6: flawed; minor errors or the request is not fully met, yet the reply mostly helps.\n"
    "- 7-8: meets the request well, with no major flaw.\n"
    "- 9-10: excellent; hardly anything to improve.\n\n"
    "## Output\n"
    "Analyse the query, then the reply. Summarise under \"Strengths\" and \"Weaknesses\". "
    "End with one last line of the form:\nScore: [your score]\n"
)

_SCORE = re.compile(r"Score: (?:\[)?(\d+)(?:\])?")
_VERDICT = re.compile(r"\b(INCORRECT|CORRECT)\b")


def bba_judge_prompt(question: str, official_answer: str, candidate_answer: str,
                     template: str = BBA_JUDGE_TEMPLATE) -> str:
    """The Big Bench Audio judge prompt for one candidate answer."""
    return template.format(question=question, official_answer=official_answer, candidate_answer=candidate_answer)


def wildspeech_judge_prompt(query: str, response: str, checklist: str,
                            template: str = WILDSPEECH_JUDGE_TEMPLATE) -> str:
    """The WildSpeech judge prompt: the general checklist is put before the query's own."""
    return template.format(query=query, response=response, checklist=WILDSPEECH_GENERAL_CHECKLIST + checklist)


def parse_verdict(reply: str) -> float | None:
    """1.0 for CORRECT, 0.0 for INCORRECT (the first verdict word wins), None when neither appears.

    >>> parse_verdict("CORRECT"), parse_verdict("The answer is INCORRECT."), parse_verdict("maybe")
    (1.0, 0.0, None)
    """
    found = _VERDICT.search(reply.upper())
    return None if found is None else float(found.group(1) == "CORRECT")


def parse_score(reply: str, low: int = 1, high: int = 10) -> float | None:
    """The first `Score: N` (or `Score: [N]`) of a reply, as WildSpeech's regex reads it; None when
    absent or outside [low, high].

    >>> parse_score("Strengths: ...\\nScore: 7"), parse_score("Score: [9]"), parse_score("Score: 42")
    (7.0, 9.0, None)
    """
    found = _SCORE.search(reply)
    if found is None:
        return None
    value = int(found.group(1))
    return float(value) if low <= value <= high else None


COGNITION_JUDGE_TEMPLATE = (
    "An audio language model received a message from a user{attached}.\n"
    "Message: {question}\n"
    "Reply: {reply}\n\n"
    "Does this reply treat the audio as heard?\n"
    "- HEARD: {heard}\n"
    "- DENIED: the reply claims, in any wording, that the model cannot hear, listen to or process audio "
    "(even if it also guesses at the content).\n"
    "- NEITHER: the reply does not deny hearing, but does not {neither} either.\n"
    "Reply with one word: HEARD, DENIED or NEITHER."
)
_COGNITION_WITH_AUDIO = {"attached": " with an audio clip attached",
                         "heard": "the reply says what is in the audio (a sound, a note, a count, a voice, "
                                  "a word spoken...), as one does after listening to it.",
                         "neither": "say anything about what is in the audio"}
_COGNITION_WITHOUT_AUDIO = {"attached": " about hearing (no audio attached)",
                            "heard": "the reply says that the model can hear or listen to audio.",
                            "neither": "say that it can hear"}
_HEARING_VERDICT = re.compile(r"\b(HEARD|DENIED|NEITHER)\b")


def cognition_judge_prompt(question: str, reply: str, *, has_audio: bool = True,
                           template: str = COGNITION_JUDGE_TEMPLATE) -> str:
    """The self-cognition judge prompt: does `reply` to `question` treat the audio as heard?"""
    parts = _COGNITION_WITH_AUDIO if has_audio else _COGNITION_WITHOUT_AUDIO
    return template.format(question=question, reply=reply, **parts)


def parse_hearing_verdict(reply: str) -> str | None:
    """HEARD, DENIED or NEITHER (the first that appears, case-insensitive), None when none does.

    >>> parse_hearing_verdict("Heard."), parse_hearing_verdict("DENIED: no ears"), parse_hearing_verdict("?")
    ('HEARD', 'DENIED', None)
    """
    found = _HEARING_VERDICT.search(reply.upper())
    return None if found is None else found.group(1)
