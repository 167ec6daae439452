"""What the phone line itself says (not the dialogue): fillers, reprompts, goodbyes, transfer notices."""

from __future__ import annotations

_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "filler": "One moment while I check that.",
        "still_there": "Are you still there?",
        "silence_goodbye": "I haven't heard anything, so I'll end the call now. Please call back any time. Goodbye.",
        "connecting": "I'm connecting you with a colleague now. Please stay on the line.",
        "callback": "A colleague will call you back as soon as possible.",
        "ticket": "Your reference is {ticket}.",
        "goodbye": "Thank you for calling. Goodbye.",
        "choices": "You can say {options}.",
        "or": "or",
        "trouble": "Sorry, I had trouble with that. Could you say it again?",
    },
    "es": {
        "filler": "Un momento, lo compruebo.",
        "still_there": "¿Sigue ahí?",
        "silence_goodbye": "No le oigo, así que voy a terminar la llamada. Puede volver a llamar cuando quiera. Adiós.",
        "connecting": "Le paso ahora con un compañero. No cuelgue, por favor.",
        "callback": "Un compañero le devolverá la llamada lo antes posible.",
        "ticket": "Su referencia es {ticket}.",
        "goodbye": "Gracias por llamar. Adiós.",
        "choices": "Puede decir {options}.",
        "or": "o",
        "trouble": "Perdone, no lo he entendido bien. ¿Puede repetirlo?",
    },
}


def phrase(key: str, language: str, **values: str) -> str:
    table = _PHRASES.get(language) or _PHRASES["en"]
    return (table.get(key) or _PHRASES["en"][key]).format(**values)


def spoken_choices(labels: list[str], language: str) -> str:
    """At most three options read aloud: a phone menu longer than that is not remembered."""
    labels = [label.strip() for label in labels if label.strip()][:3]
    if not labels:
        return ""
    if len(labels) == 1:
        options = labels[0]
    else:
        options = ", ".join(labels[:-1]) + f" {phrase('or', language)} {labels[-1]}"
    return phrase("choices", language, options=options)
