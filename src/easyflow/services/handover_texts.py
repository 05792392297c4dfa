"""What the bot says around a handover, in the customer's language, and when people answer.

Pure functions: the customer's language, whether they ask for a person, the built-in texts
(a tenant's own texts replace them), working hours and the next opening time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from easyflow.domain.messaging import HandoverRules, InboundMessage, WorkingHours

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_MARKER = re.compile(r"\[[^\]]*\]")
# "Can I talk to a person?", "позовите оператора": the customer wants a human, not the bot.
_ASKS_FOR_PERSON = re.compile(
    r"\b(оператор\w*|менеджер\w*|сотрудник\w*|консультант\w*|жив\w+\s+человек\w*|"
    r"с\s+человеком|позов\w+|operator|human|real\s+person|live\s+person|live\s+agent|"
    r"(talk|speak)\s+to\s+(a|an|the|some)\s*(one|body|person|agent|manager)|"
    r"representative|manager|agent)\b",
    re.IGNORECASE,
)

_WHAT = {
    "en": {
        "photo": "photo",
        "video": "video",
        "voice": "voice message",
        "audio": "audio",
        "document": "file",
        "sticker": "sticker",
        "contact": "contact",
        "location": "location",
    },
    "ru": {
        "photo": "фото",
        "video": "видео",
        "voice": "голосовое сообщение",
        "audio": "аудио",
        "document": "файл",
        "sticker": "стикер",
        "contact": "контакт",
        "location": "геолокацию",
    },
}
_DAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ru": ("пн", "вт", "ср", "чт", "пт", "сб", "вс"),
}
TEXTS = {
    "en": {
        "notice": "I have passed your question to a person; they will answer you here soon.",
        "after_hours": (
            "I have passed your question to a person. We are away now; they will answer you "
            "here from {opens}."
        ),
        "cannot_help": (
            "Sorry, I cannot answer that. Please rephrase your question, or ask for a person."
        ),
        "media_handover": "Thank you for the {what}! I can only read text.",
        "media_reply": "Thank you for the {what}! I can only read text: please write your "
        "question in words.",
        "sticker": "🙂 How can I help? Send me your order number, or write your question.",
        "location": "Thank you, I got your location. How can I help? Please write your question.",
        "contact": (
            "Thank you. To confirm an order, please share your own phone number with the "
            "button, or type the phone number given in the order."
        ),
    },
    "ru": {
        "notice": "Я передал ваш вопрос сотруднику — он ответит вам здесь в ближайшее время.",
        "after_hours": (
            "Я передал ваш вопрос сотруднику. Сейчас мы не работаем — вам ответят здесь с {opens}."
        ),
        "cannot_help": (
            "Извините, я не могу на это ответить. Переформулируйте вопрос или попросите "
            "позвать сотрудника."
        ),
        "media_handover": "Спасибо за {what}! Я умею читать только текст.",
        "media_reply": "Спасибо за {what}! Я умею читать только текст — напишите, пожалуйста, "
        "ваш вопрос словами.",
        "sticker": "🙂 Чем могу помочь? Пришлите номер заказа или напишите ваш вопрос.",
        "location": "Спасибо, геолокацию получил. Чем могу помочь? Напишите, пожалуйста, вопрос.",
        "contact": (
            "Спасибо. Чтобы подтвердить заказ, поделитесь своим номером телефона кнопкой или "
            "напишите номер телефона, указанный в заказе."
        ),
    },
}


def language(message: InboundMessage) -> str:
    """ "ru" or "en": the words of the message, else the messenger's language setting."""
    words = _MARKER.sub("", message.text)
    if _CYRILLIC.search(words):
        return "ru"
    if re.search(r"[^\W\d_]", words):
        return "en"
    return "ru" if (message.sender.language or "").lower().startswith("ru") else "en"


def asks_for_person(text: str) -> bool:
    return bool(_ASKS_FOR_PERSON.search(_MARKER.sub("", text)))


def keyword_in(keywords: tuple[str, ...], text: str) -> str | None:
    lowered = text.lower()
    return next((k for k in keywords if k and k.lower() in lowered), None)


def what(kind: str, lang: str) -> str:
    return _WHAT[lang].get(kind, _WHAT[lang]["document"])


def media_reply(kind: str, lang: str) -> str:
    """The bot's answer to content it does not hand over (a sticker, a location ...)."""
    texts = TEXTS[lang]
    if kind in ("sticker", "location", "contact"):
        return texts[kind]
    return texts["media_reply"].format(what=what(kind, lang))


def notice(rules: HandoverRules, lang: str, now: datetime) -> str:
    """What the customer is told on handover: the tenant's text, or after hours the other."""
    hours = rules.working_hours
    if hours is not None and not is_open(hours, now):
        text = rules.after_hours_notice or TEXTS[lang]["after_hours"]
        return text.replace("{opens}", opens_at(hours, now, lang))
    return rules.notice or TEXTS[lang]["notice"]


def is_open(hours: WorkingHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.weekday() not in hours.days:
        return False
    return hours.opens <= local.time().replace(tzinfo=None) < hours.closes


def next_opening(hours: WorkingHours, now: datetime) -> datetime:
    """The next moment people answer, in the hours' time zone (now, if open)."""
    zone = ZoneInfo(hours.timezone)
    local = now.astimezone(zone)
    if is_open(hours, now):
        return local
    for ahead in range(8):
        day = (local + timedelta(days=ahead)).date()
        start = datetime.combine(day, hours.opens, tzinfo=zone)
        if day.weekday() in hours.days and start > local:
            return start
    return local  # no working day at all: validated away when rules are set


def opens_at(hours: WorkingHours, now: datetime, lang: str) -> str:
    start = next_opening(hours, now)
    return f"{_DAYS[lang][start.weekday()]} {start:%H:%M} ({hours.timezone})"
