"""Schema objects to runtime objects, with the checks that need more than a type.

Each helper reports what is wrong and returns a harmless stand-in (the default), so compiling
goes on and cross-checks still run; the caller discards the result when anything was reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from softswitch.config.checks import (
    EMAIL,
    PHONE_NUMBER,
    PIN,
    USERNAME,
    absolute,
    check_name,
    claim_code,
    dialable,
    positive,
    q,
)
from softswitch.config.compile_routing import compile_routing
from softswitch.config.compile_server import (
    LANGUAGE,
    LANGUAGE_EXAMPLES,
    compile_security,
    compile_server,
)
from softswitch.config.decode import DecodedConfig, Report
from softswitch.config.forms import compile_forms
from softswitch.config.linemap import KeyPath
from softswitch.config.model import (
    CompiledConfig,
    Conference,
    Extension,
    MusicClass,
    Prompt,
    VoicemailSettings,
)
from softswitch.config.schema import (
    MUSIC_SUFFIXES,
    TTS_LANGUAGES,
    ConferenceSection,
    ExtensionSection,
    MusicOnHoldSection,
    PromptSection,
    VoicemailSection,
    normalize_language,
)

BaseDir = Callable[[KeyPath], Path]

# Always available to moh_when_alone: the configured class of that name, else a built-in tune.
DEFAULT_MUSIC_CLASS = "default"


def compile_config(
    decoded: DecodedConfig, base_dir: BaseDir, files: tuple[str, ...], report: Report
) -> CompiledConfig:
    server = compile_server(decoded.server, base_dir(("server", "state_dir")), report)
    extensions = compile_extensions(decoded.extensions, decoded.raw_sections, report)
    music = compile_music(decoded.music_on_hold, base_dir, report)
    base = CompiledConfig(
        server=server,
        security=compile_security(decoded.security, report),
        extensions=extensions,
        files=files,
        raw_sections=MappingProxyType(dict(decoded.raw_sections)),
        prompts=compile_prompts(decoded.prompts, server.language, base_dir, report),
        music_on_hold=music,
        conferences=compile_conferences(decoded.conferences, extensions, music, report),
        forms=compile_forms(decoded.raw_sections.get("forms"), report),
    )
    return compile_routing(base, decoded.routing, report)


# -- extensions ----------------------------------------------------------------------------


def compile_extensions(
    sections: Mapping[str, ExtensionSection], raw: Mapping[str, object], report: Report
) -> Mapping[str, Extension]:
    extensions: dict[str, Extension] = {}
    owner_of_username: dict[str, str] = {}
    forms = raw.get("forms")
    for number, section in sections.items():
        extension = _extension(number, section, report)
        if section.form is not None and not (isinstance(forms, dict) and section.form in forms):
            report(("extensions", number, "form"), f"no form named {q(section.form)} in [forms]")
        owner = owner_of_username.setdefault(extension.username, number)
        if owner != number:
            path: KeyPath = ("extensions", number)
            if section.username is not None:
                path = (*path, "username")
            message = f"username {q(extension.username)} is used by extensions {owner} and {number}"
            report(path, message)
        extensions[number] = extension
    return MappingProxyType(extensions)


def _extension(number: str, section: ExtensionSection, report: Report) -> Extension:
    def at(key: str, *rest: str | int) -> KeyPath:
        return ("extensions", number, key, *rest)

    username = number if section.username is None else section.username
    if not USERNAME.fullmatch(username):
        report(at("username"), "use 1-64 letters, digits or . _ ~ + -")
    if section.password == "":
        report(at("password"), "must not be empty (omit it to get a generated one)")
    for i, caller_id in enumerate(section.caller_ids):
        if not PHONE_NUMBER.fullmatch(caller_id):
            report(at("caller_ids", i), f"not a phone number: {q(caller_id)}")
    if section.email is not None and not EMAIL.fullmatch(section.email):
        report(at("email"), f"not an e-mail address: {q(section.email)}")
    if section.ring_time is not None:
        positive(section.ring_time, at("ring_time"), report)
    for i, group in enumerate(section.groups):
        if not group.strip():
            report(at("groups", i), "a group name must not be empty")
    return Extension(
        number=number,
        name=section.name,
        username=username,
        password=section.password,
        caller_ids=section.caller_ids,
        outbound=section.outbound,
        custom_caller_id=section.custom_caller_id,
        record=section.record,
        email=section.email,
        ring_time=section.ring_time,
        groups=section.groups,
        voicemail=_voicemail(section, at("voicemail"), report),
        form=section.form,
    )


def _voicemail(
    section: ExtensionSection, path: KeyPath, report: Report
) -> VoicemailSettings | None:
    box = section.voicemail
    if isinstance(box, bool):
        if not box:
            return None
        box = VoicemailSection()  # voicemail = true: a mailbox with every setting defaulted
    if box.pin is not None and not PIN.fullmatch(box.pin):
        report((*path, "pin"), "a PIN is 4 to 12 digits")
    if box.email is not None and not EMAIL.fullmatch(box.email):
        report((*path, "email"), f"not an e-mail address: {q(box.email)}")
    email = section.email if box.email is None else box.email
    return VoicemailSettings(pin=box.pin, email=email, attach=box.attach)


# -- sounds: prompts, music on hold -----------------------------------------------------------


def compile_prompts(
    sections: Mapping[str, PromptSection], language: str, base_dir: BaseDir, report: Report
) -> Mapping[str, Prompt]:
    """``language`` is the server's, the default of prompts that name none."""
    default = normalize_language(language)
    return MappingProxyType(
        {
            name: _prompt(name, section, default, base_dir, report)
            for name, section in sections.items()
        }
    )


def _prompt(
    name: str, section: PromptSection, default_language: str, base_dir: BaseDir, report: Report
) -> Prompt:
    def at(*key: str) -> KeyPath:
        return ("prompts", name, *key)

    check_name(at(), name, report)
    if (section.file is None) == (section.text is None):
        which = "neither" if section.file is None else "both"
        report(
            at(), f"has {which} file and text: give exactly one (a recording or a text to speak)"
        )
    file = None
    if section.file is not None:
        file = absolute(base_dir(at("file")), section.file)
        _check_file(file, at("file"), report)
    if section.text is not None and not section.text.strip():
        report(at("text"), "must not be empty")
    if section.voice is not None and section.text is None:
        report(at("voice"), "only a text prompt has a voice (a recording has its own)")
    language = default_language
    if section.language is not None:
        language = normalize_language(section.language)
        _check_prompt_language(section, language, at("language"), report)
    return Prompt(
        name=name,
        description=section.description,
        file=file,
        text=section.text,
        language=language,
        voice=section.voice or "female",
    )


def _check_prompt_language(
    section: PromptSection, language: str, path: KeyPath, report: Report
) -> None:
    # A recording may be in any language; only a text needs eSpeak to know it.
    if not LANGUAGE.fullmatch(language):
        report(path, f"not a language code: {q(section.language or '')} {LANGUAGE_EXAMPLES}")
    elif section.text is not None and language not in TTS_LANGUAGES:
        report(path, f"no text-to-speech voice for {q(section.language or '')} {LANGUAGE_EXAMPLES}")


def _check_file(path: Path, key: KeyPath, report: Report) -> None:
    # Existence only: whether it is audio is probed by `softswitch check`, which may use media.
    if path.is_dir():
        report(key, f"is a directory, not an audio file: {path}")
    elif not path.is_file():
        report(key, f"no such file: {path}")


def compile_music(
    sections: Mapping[str, MusicOnHoldSection], base_dir: BaseDir, report: Report
) -> Mapping[str, MusicClass]:
    classes: dict[str, MusicClass] = {}
    for name, section in sections.items():
        path: KeyPath = ("music_on_hold", name)
        check_name(path, name, report)
        if section.directory is None:
            report(path, "needs a directory of WAV or MP3 files")
            directory = base_dir(path)
        else:
            directory = absolute(base_dir((*path, "directory")), section.directory)
            _check_music_directory(directory, (*path, "directory"), report)
        classes[name] = MusicClass(name=name, directory=directory, shuffle=section.shuffle)
    return MappingProxyType(classes)


def _check_music_directory(directory: Path, path: KeyPath, report: Report) -> None:
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "no such directory"
        report(path, f"{what}: {directory}")
        return
    try:
        found = any(
            entry.suffix.lower() in MUSIC_SUFFIXES and entry.is_file()
            for entry in directory.iterdir()
        )
    except OSError as exc:
        report(path, f"cannot list {directory}: {exc.strerror or exc}")
        return
    if not found:
        report(path, f"no WAV or MP3 files in {directory}")


# -- conferences ---------------------------------------------------------------------------


def compile_conferences(
    sections: Mapping[str, ConferenceSection],
    extensions: Mapping[str, Extension],
    music: Mapping[str, MusicClass],
    report: Report,
) -> Mapping[str, Conference]:
    """Each conference, with its number checked against extensions and earlier conferences."""
    owners = {number: f"extension {number}" for number in extensions}
    conferences: dict[str, Conference] = {}
    for name, section in sections.items():
        conference = _conference(name, section, music, report)
        if conference.number:
            path: KeyPath = ("conferences", name, "number")
            claim_code(owners, conference.number, f"conference {name}", path, "number", report)
        conferences[name] = conference
    return MappingProxyType(conferences)


def _conference(
    name: str, section: ConferenceSection, music: Mapping[str, MusicClass], report: Report
) -> Conference:
    def at(*key: str) -> KeyPath:
        return ("conferences", name, *key)

    check_name(at(), name, report)
    number = dialable(
        section.number,
        at(),
        "number",
        "a conference number",
        "needs a number (what callers dial to join)",
        report,
    )
    for key, pin in (("pin", section.pin), ("admin_pin", section.admin_pin)):
        if pin is not None and not PIN.fullmatch(pin):
            report(at(key), "a PIN is 4 to 12 digits")
    if section.admin_pin is not None and section.admin_pin == section.pin:
        report(at("admin_pin"), "is the same as pin, so every member would be an administrator")
    if section.max_members < 2:
        report(at("max_members"), f"must be at least 2, got {section.max_members}")
    moh = section.moh_when_alone or None
    if moh is not None and moh not in music and moh != DEFAULT_MUSIC_CLASS:
        known = ", ".join(sorted({*music, DEFAULT_MUSIC_CLASS}))
        report(at("moh_when_alone"), f"no music_on_hold class named {q(moh)} (known: {known})")
    return Conference(
        name=name,
        number=number,
        pin=section.pin,
        admin_pin=section.admin_pin,
        max_members=section.max_members,
        record=section.record,
        announce_join_leave=section.announce_join_leave,
        moh_when_alone=moh,
    )
