"""The switch's own sentences, spoken by text-to-speech in the company's language.

language -> key -> text. Every language has every key (a test checks), so a caller never hears
two languages in one exchange; a language missing here falls back to English as a whole.
Each feature keeps its sentences in its own table (conferences here, voicemail and queues in
their modules); ``SYSTEM_TEXTS`` is their union.
"""

from __future__ import annotations

from collections.abc import Mapping

from softswitch.media.texts_queue import QUEUE_TEXTS
from softswitch.media.texts_voicemail import VOICEMAIL_TEXTS

__all__ = ["SYSTEM_TEXTS"]

Texts = Mapping[str, Mapping[str, str]]

_CALL_TEXTS: Texts = {
    "en": {
        "outbound_not_allowed": "You are not allowed to call external numbers.",
        "conference_enter_pin": "Please enter the conference PIN, followed by the hash key.",
        "conference_wrong_pin": "That PIN is not correct.",
        "conference_alone": "You are the only participant in this conference.",
        "conference_full": "Sorry, this conference is full.",
        "conference_joined": "A participant has joined the conference.",
        "conference_left": "A participant has left the conference.",
        "conference_wait_admin": "The conference will start when the organiser joins.",
        "goodbye": "Goodbye.",
    },
    "es": {
        "outbound_not_allowed": "No tiene permiso para llamar a números externos.",
        "conference_enter_pin": "Introduzca el PIN de la conferencia y pulse la tecla almohadilla.",
        "conference_wrong_pin": "El PIN no es correcto.",
        "conference_alone": "Usted es el único participante en esta conferencia.",
        "conference_full": "Lo sentimos, la conferencia está completa.",
        "conference_joined": "Un participante se ha unido a la conferencia.",
        "conference_left": "Un participante ha salido de la conferencia.",
        "conference_wait_admin": "La conferencia empezará cuando se una el organizador.",
        "goodbye": "Adiós.",
    },
    "ca": {
        "outbound_not_allowed": "No teniu permís per trucar a números externs.",
        "conference_enter_pin": "Introduïu el PIN de la conferència, seguit de la tecla coixinet.",
        "conference_wrong_pin": "El PIN no és correcte.",
        "conference_alone": "Sou l'únic participant en aquesta conferència.",
        "conference_full": "Ho sentim, la conferència és plena.",
        "conference_joined": "Un participant s'ha unit a la conferència.",
        "conference_left": "Un participant ha sortit de la conferència.",
        "conference_wait_admin": "La conferència començarà quan s'hi connecti l'organitzador.",
        "goodbye": "Adéu.",
    },
    "gl": {
        "outbound_not_allowed": "Non ten permiso para chamar a números externos.",
        "conference_enter_pin": "Introduza o PIN da conferencia, seguido da tecla cancelo.",
        "conference_wrong_pin": "O PIN non é correcto.",
        "conference_alone": "Vostede é o único participante nesta conferencia.",
        "conference_full": "Sentímolo, a conferencia está completa.",
        "conference_joined": "Un participante uniuse á conferencia.",
        "conference_left": "Un participante saíu da conferencia.",
        "conference_wait_admin": "A conferencia comezará cando se una o organizador.",
        "goodbye": "Adeus.",
    },
    "pt": {
        "outbound_not_allowed": "Não tem permissão para ligar para números externos.",
        "conference_enter_pin": "Introduza o PIN da conferência, seguido da tecla cardinal.",
        "conference_wrong_pin": "O PIN não está correto.",
        "conference_alone": "É o único participante nesta conferência.",
        "conference_full": "Lamentamos, a conferência está cheia.",
        "conference_joined": "Um participante entrou na conferência.",
        "conference_left": "Um participante saiu da conferência.",
        "conference_wait_admin": "A conferência começará quando o organizador entrar.",
        "goodbye": "Adeus.",
    },
    "fr": {
        "outbound_not_allowed": "Vous n'êtes pas autorisé à appeler des numéros externes.",
        "conference_enter_pin": "Saisissez le code PIN de la conférence, puis la touche dièse.",
        "conference_wrong_pin": "Ce code PIN est incorrect.",
        "conference_alone": "Vous êtes le seul participant à cette conférence.",
        "conference_full": "Désolé, cette conférence est complète.",
        "conference_joined": "Un participant a rejoint la conférence.",
        "conference_left": "Un participant a quitté la conférence.",
        "conference_wait_admin": "La conférence commencera dès que l'organisateur la rejoindra.",
        "goodbye": "Au revoir.",
    },
    "de": {
        "outbound_not_allowed": "Sie dürfen keine externen Nummern anrufen.",
        "conference_enter_pin": "Bitte geben Sie die Konferenz-PIN ein und drücken Sie die Raute.",
        "conference_wrong_pin": "Diese PIN ist nicht korrekt.",
        "conference_alone": "Sie sind der einzige Teilnehmer dieser Konferenz.",
        "conference_full": "Leider ist diese Konferenz voll.",
        "conference_joined": "Ein Teilnehmer ist der Konferenz beigetreten.",
        "conference_left": "Ein Teilnehmer hat die Konferenz verlassen.",
        "conference_wait_admin": "Die Konferenz beginnt, sobald der Organisator beitritt.",
        "goodbye": "Auf Wiederhören.",
    },
}


def _union(*tables: Texts) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for table in tables:
        for language, texts in table.items():
            merged.setdefault(language, {}).update(texts)
    return merged


SYSTEM_TEXTS: Texts = _union(_CALL_TEXTS, VOICEMAIL_TEXTS, QUEUE_TEXTS)
