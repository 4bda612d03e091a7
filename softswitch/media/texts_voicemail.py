"""What the switch says in voicemail, in every language of ``texts``.

Fixed sentences only, no numbers in the text: every sentence is rendered once, ahead of time
(``softswitch prompts`` and the server's warm-up), so no caller waits for text-to-speech. That
is why the menu says "one new message" / "new messages" rather than a count, and "the person
you are calling" rather than the extension's number. ``goodbye`` is the shared key in
``texts``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["VOICEMAIL_TEXTS"]

VOICEMAIL_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "voicemail_greeting_unavailable": (
            "The person you are calling is not available. Please leave a message after the "
            "tone, and press the hash key when you have finished."
        ),
        "voicemail_greeting_busy": (
            "The person you are calling is on another call. Please leave a message after the "
            "tone, and press the hash key when you have finished."
        ),
        "voicemail_greeting_plain": (
            "Please leave a message after the tone, and press the hash key when you have finished."
        ),
        "voicemail_saved": "Your message has been saved. Goodbye.",
        "voicemail_not_saved": "No message was recorded. Goodbye.",
        "voicemail_failed": "Sorry, your message could not be saved. Goodbye.",
        "voicemail_enter_mailbox": "Please enter your mailbox number, followed by the hash key.",
        "voicemail_enter_pin": "Please enter your PIN, followed by the hash key.",
        "voicemail_wrong_pin": "Incorrect PIN.",
        "voicemail_wrong_login": "That mailbox number or PIN is not correct.",
        "voicemail_no_messages": "You have no messages. Goodbye.",
        "voicemail_no_new": "You have no new messages.",
        "voicemail_one_new": "You have one new message.",
        "voicemail_new": "You have new messages.",
        "voicemail_options": (
            "To hear this message again, press 1. To delete it, press 7. For the next message, "
            "press 9 or the hash key. To hang up, press the star key."
        ),
        "voicemail_deleted": "Message deleted.",
        "voicemail_no_more": "No more messages. Goodbye.",
        "voicemail_unavailable": "Sorry, your messages cannot be played right now. Goodbye.",
    },
    "es": {
        "voicemail_greeting_unavailable": (
            "La persona a la que llama no está disponible. Deje su mensaje después de la señal "
            "y pulse la tecla almohadilla al terminar."
        ),
        "voicemail_greeting_busy": (
            "La persona a la que llama está atendiendo otra llamada. Deje su mensaje después de "
            "la señal y pulse la tecla almohadilla al terminar."
        ),
        "voicemail_greeting_plain": (
            "Deje su mensaje después de la señal y pulse la tecla almohadilla al terminar."
        ),
        "voicemail_saved": "Su mensaje se ha guardado. Adiós.",
        "voicemail_not_saved": "No se ha grabado ningún mensaje. Adiós.",
        "voicemail_failed": "Lo sentimos, no se ha podido guardar su mensaje. Adiós.",
        "voicemail_enter_mailbox": (
            "Introduzca el número de su buzón y pulse la tecla almohadilla."
        ),
        "voicemail_enter_pin": "Introduzca su PIN y pulse la tecla almohadilla.",
        "voicemail_wrong_pin": "PIN incorrecto.",
        "voicemail_wrong_login": "El número de buzón o el PIN no son correctos.",
        "voicemail_no_messages": "No tiene mensajes. Adiós.",
        "voicemail_no_new": "No tiene mensajes nuevos.",
        "voicemail_one_new": "Tiene un mensaje nuevo.",
        "voicemail_new": "Tiene mensajes nuevos.",
        "voicemail_options": (
            "Para volver a escuchar este mensaje, pulse 1. Para borrarlo, pulse 7. Para el "
            "mensaje siguiente, pulse 9 o la tecla almohadilla. Para colgar, pulse la tecla "
            "asterisco."
        ),
        "voicemail_deleted": "Mensaje borrado.",
        "voicemail_no_more": "No hay más mensajes. Adiós.",
        "voicemail_unavailable": (
            "Lo sentimos, en este momento no es posible escuchar sus mensajes. Adiós."
        ),
    },
    "ca": {
        "voicemail_greeting_unavailable": (
            "La persona a qui truqueu no està disponible. Deixeu el vostre missatge després "
            "del senyal i premeu la tecla coixinet quan acabeu."
        ),
        "voicemail_greeting_busy": (
            "La persona a qui truqueu està atenent una altra trucada. Deixeu el vostre missatge "
            "després del senyal i premeu la tecla coixinet quan acabeu."
        ),
        "voicemail_greeting_plain": (
            "Deixeu el vostre missatge després del senyal i premeu la tecla coixinet quan acabeu."
        ),
        "voicemail_saved": "El vostre missatge s'ha desat. Adéu.",
        "voicemail_not_saved": "No s'ha enregistrat cap missatge. Adéu.",
        "voicemail_failed": "Ho sentim, no s'ha pogut desar el vostre missatge. Adéu.",
        "voicemail_enter_mailbox": (
            "Introduïu el número de la vostra bústia, seguit de la tecla coixinet."
        ),
        "voicemail_enter_pin": "Introduïu el vostre PIN, seguit de la tecla coixinet.",
        "voicemail_wrong_pin": "PIN incorrecte.",
        "voicemail_wrong_login": "El número de bústia o el PIN no són correctes.",
        "voicemail_no_messages": "No teniu cap missatge. Adéu.",
        "voicemail_no_new": "No teniu missatges nous.",
        "voicemail_one_new": "Teniu un missatge nou.",
        "voicemail_new": "Teniu missatges nous.",
        "voicemail_options": (
            "Per tornar a escoltar aquest missatge, premeu 1. Per esborrar-lo, premeu 7. Per "
            "al missatge següent, premeu 9 o la tecla coixinet. Per penjar, premeu la tecla "
            "asterisc."
        ),
        "voicemail_deleted": "Missatge esborrat.",
        "voicemail_no_more": "No hi ha més missatges. Adéu.",
        "voicemail_unavailable": (
            "Ho sentim, ara mateix no es poden escoltar els vostres missatges. Adéu."
        ),
    },
    "gl": {
        "voicemail_greeting_unavailable": (
            "A persoa á que chama non está dispoñible. Deixe a súa mensaxe despois do sinal e "
            "prema a tecla cancelo cando remate."
        ),
        "voicemail_greeting_busy": (
            "A persoa á que chama está atendendo outra chamada. Deixe a súa mensaxe despois do "
            "sinal e prema a tecla cancelo cando remate."
        ),
        "voicemail_greeting_plain": (
            "Deixe a súa mensaxe despois do sinal e prema a tecla cancelo cando remate."
        ),
        "voicemail_saved": "A súa mensaxe gardouse. Adeus.",
        "voicemail_not_saved": "Non se gravou ningunha mensaxe. Adeus.",
        "voicemail_failed": "Sentímolo, non se puido gardar a súa mensaxe. Adeus.",
        "voicemail_enter_mailbox": "Introduza o número do seu buzón, seguido da tecla cancelo.",
        "voicemail_enter_pin": "Introduza o seu PIN, seguido da tecla cancelo.",
        "voicemail_wrong_pin": "PIN incorrecto.",
        "voicemail_wrong_login": "O número de buzón ou o PIN non son correctos.",
        "voicemail_no_messages": "Non ten mensaxes. Adeus.",
        "voicemail_no_new": "Non ten mensaxes novas.",
        "voicemail_one_new": "Ten unha mensaxe nova.",
        "voicemail_new": "Ten mensaxes novas.",
        "voicemail_options": (
            "Para escoitar de novo esta mensaxe, prema 1. Para borrala, prema 7. Para a "
            "seguinte mensaxe, prema 9 ou a tecla cancelo. Para colgar, prema a tecla asterisco."
        ),
        "voicemail_deleted": "Mensaxe borrada.",
        "voicemail_no_more": "Non hai máis mensaxes. Adeus.",
        "voicemail_unavailable": (
            "Sentímolo, neste momento non se poden escoitar as súas mensaxes. Adeus."
        ),
    },
    "pt": {
        "voicemail_greeting_unavailable": (
            "A pessoa para quem está a ligar não está disponível. Deixe a sua mensagem após o "
            "sinal e prima a tecla cardinal quando terminar."
        ),
        "voicemail_greeting_busy": (
            "A pessoa para quem está a ligar está noutra chamada. Deixe a sua mensagem após o "
            "sinal e prima a tecla cardinal quando terminar."
        ),
        "voicemail_greeting_plain": (
            "Deixe a sua mensagem após o sinal e prima a tecla cardinal quando terminar."
        ),
        "voicemail_saved": "A sua mensagem foi guardada. Adeus.",
        "voicemail_not_saved": "Não foi gravada nenhuma mensagem. Adeus.",
        "voicemail_failed": "Lamentamos, não foi possível guardar a sua mensagem. Adeus.",
        "voicemail_enter_mailbox": (
            "Introduza o número da sua caixa de correio, seguido da tecla cardinal."
        ),
        "voicemail_enter_pin": "Introduza o seu PIN, seguido da tecla cardinal.",
        "voicemail_wrong_pin": "PIN incorreto.",
        "voicemail_wrong_login": "O número da caixa de correio ou o PIN não estão corretos.",
        "voicemail_no_messages": "Não tem mensagens. Adeus.",
        "voicemail_no_new": "Não tem mensagens novas.",
        "voicemail_one_new": "Tem uma mensagem nova.",
        "voicemail_new": "Tem mensagens novas.",
        "voicemail_options": (
            "Para ouvir novamente esta mensagem, prima 1. Para a apagar, prima 7. Para a "
            "mensagem seguinte, prima 9 ou a tecla cardinal. Para desligar, prima a tecla "
            "asterisco."
        ),
        "voicemail_deleted": "Mensagem apagada.",
        "voicemail_no_more": "Não há mais mensagens. Adeus.",
        "voicemail_unavailable": (
            "Lamentamos, neste momento não é possível ouvir as suas mensagens. Adeus."
        ),
    },
    "fr": {
        "voicemail_greeting_unavailable": (
            "Votre correspondant n'est pas disponible. Laissez votre message après le bip, puis "
            "appuyez sur la touche dièse lorsque vous avez terminé."
        ),
        "voicemail_greeting_busy": (
            "Votre correspondant est déjà en ligne. Laissez votre message après le bip, puis "
            "appuyez sur la touche dièse lorsque vous avez terminé."
        ),
        "voicemail_greeting_plain": (
            "Laissez votre message après le bip, puis appuyez sur la touche dièse lorsque vous "
            "avez terminé."
        ),
        "voicemail_saved": "Votre message a été enregistré. Au revoir.",
        "voicemail_not_saved": "Aucun message n'a été enregistré. Au revoir.",
        "voicemail_failed": "Désolé, votre message n'a pas pu être enregistré. Au revoir.",
        "voicemail_enter_mailbox": (
            "Saisissez le numéro de votre messagerie, puis la touche dièse."
        ),
        "voicemail_enter_pin": "Saisissez votre code PIN, puis la touche dièse.",
        "voicemail_wrong_pin": "Code PIN incorrect.",
        "voicemail_wrong_login": "Le numéro de messagerie ou le code PIN est incorrect.",
        "voicemail_no_messages": "Vous n'avez aucun message. Au revoir.",
        "voicemail_no_new": "Vous n'avez aucun nouveau message.",
        "voicemail_one_new": "Vous avez un nouveau message.",
        "voicemail_new": "Vous avez de nouveaux messages.",
        "voicemail_options": (
            "Pour réécouter ce message, appuyez sur 1. Pour le supprimer, appuyez sur 7. Pour "
            "le message suivant, appuyez sur 9 ou sur la touche dièse. Pour raccrocher, "
            "appuyez sur la touche étoile."
        ),
        "voicemail_deleted": "Message supprimé.",
        "voicemail_no_more": "Il n'y a plus de messages. Au revoir.",
        "voicemail_unavailable": (
            "Désolé, vos messages ne peuvent pas être écoutés pour le moment. Au revoir."
        ),
    },
    "de": {
        "voicemail_greeting_unavailable": (
            "Ihr Gesprächspartner ist zurzeit nicht erreichbar. Bitte hinterlassen Sie nach dem "
            "Signalton eine Nachricht und drücken Sie die Raute, wenn Sie fertig sind."
        ),
        "voicemail_greeting_busy": (
            "Ihr Gesprächspartner telefoniert gerade. Bitte hinterlassen Sie nach dem Signalton "
            "eine Nachricht und drücken Sie die Raute, wenn Sie fertig sind."
        ),
        "voicemail_greeting_plain": (
            "Bitte hinterlassen Sie nach dem Signalton eine Nachricht und drücken Sie die "
            "Raute, wenn Sie fertig sind."
        ),
        "voicemail_saved": "Ihre Nachricht wurde gespeichert. Auf Wiederhören.",
        "voicemail_not_saved": "Es wurde keine Nachricht aufgezeichnet. Auf Wiederhören.",
        "voicemail_failed": (
            "Leider konnte Ihre Nachricht nicht gespeichert werden. Auf Wiederhören."
        ),
        "voicemail_enter_mailbox": (
            "Bitte geben Sie Ihre Mailboxnummer ein und drücken Sie die Raute."
        ),
        "voicemail_enter_pin": "Bitte geben Sie Ihre PIN ein und drücken Sie die Raute.",
        "voicemail_wrong_pin": "Falsche PIN.",
        "voicemail_wrong_login": "Die Mailboxnummer oder die PIN ist nicht korrekt.",
        "voicemail_no_messages": "Sie haben keine Nachrichten. Auf Wiederhören.",
        "voicemail_no_new": "Sie haben keine neuen Nachrichten.",
        "voicemail_one_new": "Sie haben eine neue Nachricht.",
        "voicemail_new": "Sie haben neue Nachrichten.",
        "voicemail_options": (
            "Um diese Nachricht noch einmal zu hören, drücken Sie die 1. Um sie zu löschen, "
            "drücken Sie die 7. Für die nächste Nachricht drücken Sie die 9 oder die Raute. "
            "Zum Auflegen drücken Sie die Sterntaste."
        ),
        "voicemail_deleted": "Nachricht gelöscht.",
        "voicemail_no_more": "Keine weiteren Nachrichten. Auf Wiederhören.",
        "voicemail_unavailable": (
            "Leider können Ihre Nachrichten im Moment nicht abgespielt werden. Auf Wiederhören."
        ),
    },
}
