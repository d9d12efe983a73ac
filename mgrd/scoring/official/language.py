"""WildSpeech-Bench's language rule: a reply that `langdetect` does not read as English scores 1."""

from __future__ import annotations

LANGDETECT_MISSING = ("WildSpeech's official language rule needs langdetect, which is not installed: "
                      "pip install 'mgrd[langdetect]'")


def require_langdetect() -> None:
    """Raise ModuleNotFoundError naming the `langdetect` extra when it is not installed."""
    try:
        import langdetect  # noqa: F401
    except ModuleNotFoundError:
        raise ModuleNotFoundError(LANGDETECT_MISSING, name="langdetect") from None


def detected_english(text: str) -> bool:
    """Whether `langdetect` reads `text` as English ("en"), with its detector seeded (0) so the
    verdict is the same on every run. Text with no letters (digits only, empty) gives langdetect
    nothing to detect: it is not penalised."""
    require_langdetect()
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    if not any(c.isalpha() for c in text):
        return True
    DetectorFactory.seed = 0
    try:
        return detect(text) == "en"
    except LangDetectException:   # no features to detect from
        return True
