"""What the switch says in call queues, in every language of ``texts``.

Positions are separate sentences, one per number up to ``SPOKEN_POSITIONS`` (the digit is
read in the sentence's language by the voice): a queue speaks them while music plays to
other callers, so they are rendered ahead of time rather than built per call. Beyond that a
caller hears ``queue_position_many``, which stays true however long the queue grows.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["QUEUE_TEXTS", "SPOKEN_POSITIONS"]

SPOKEN_POSITIONS = 10

# language: (all agents busy, "you are caller number {n}", more than SPOKEN_POSITIONS - 1 ahead)
_SENTENCES: Mapping[str, tuple[str, str, str]] = {
    "en": (
        "All our agents are busy. Please hold.",
        "You are caller number {n}.",
        "There are at least ten callers ahead of you.",
    ),
    "es": (
        "Todos nuestros agentes están ocupados. Por favor, espere.",
        "Usted es la llamada número {n}.",
        "Hay al menos diez llamadas delante de usted.",
    ),
    "ca": (
        "Tots els nostres agents estan ocupats. Si us plau, espereu.",
        "Sou la trucada número {n}.",
        "Hi ha almenys deu trucades davant vostre.",
    ),
    "gl": (
        "Todos os nosos axentes están ocupados. Por favor, agarde.",
        "Vostede é a chamada número {n}.",
        "Hai polo menos dez chamadas diante de vostede.",
    ),
    "pt": (
        "Todos os nossos agentes estão ocupados. Por favor, aguarde.",
        "É a chamada número {n}.",
        "Há pelo menos dez chamadas à sua frente.",
    ),
    "fr": (
        "Tous nos conseillers sont occupés. Merci de patienter.",
        "Vous êtes l'appel numéro {n}.",
        "Il y a au moins dix appels avant le vôtre.",
    ),
    "de": (
        "Alle unsere Mitarbeiter sind im Gespräch. Bitte warten Sie.",
        "Sie sind Anrufer Nummer {n}.",
        "Vor Ihnen warten mindestens zehn Anrufer.",
    ),
}


def _texts(busy: str, position: str, many: str) -> dict[str, str]:
    texts = {"queue_all_busy": busy, "queue_position_many": many}
    for n in range(1, SPOKEN_POSITIONS + 1):
        texts[f"queue_position_{n}"] = position.format(n=n)
    return texts


QUEUE_TEXTS: Mapping[str, Mapping[str, str]] = {
    language: _texts(*sentences) for language, sentences in _SENTENCES.items()
}
