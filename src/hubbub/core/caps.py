"""The IRCv3 capabilities hubbub offers, defined once.

Each entry links to its specification. A value (for CAP LS 302) is given where the spec has one.
"""

from __future__ import annotations

from hubbub.config import Config, LimitsSection


def metadata_value(limits: LimitsSection) -> str:
    """draft/metadata-2's value: before-connect and the limits (hubbub.core.metadata)."""
    return (
        f"before-connect,max-subs={limits.metadata_max_subs},"
        f"max-keys={limits.metadata_max_keys},max-value-bytes={limits.metadata_max_value_bytes}"
    )


# name -> value advertised in CAP LS 302 ("" for none)
CAPABILITIES: dict[str, str] = {
    # https://ircv3.net/specs/extensions/account-notify
    "account-notify": "",
    # https://ircv3.net/specs/extensions/account-tag
    "account-tag": "",
    # https://ircv3.net/specs/extensions/away-notify
    "away-notify": "",
    # https://ircv3.net/specs/extensions/batch
    "batch": "",
    # https://ircv3.net/specs/extensions/capability-negotiation#cap-notify
    "cap-notify": "",
    # https://ircv3.net/specs/extensions/account-registration (draft)
    "draft/account-registration": "before-connect,custom-account-name",
    # https://ircv3.net/specs/extensions/chathistory (work in progress: draft/ prefix)
    "draft/chathistory": "",
    # https://ircv3.net/specs/extensions/chathistory#event-playback
    "draft/event-playback": "",
    # https://github.com/ircv3/ircv3-specifications/pull/425 (open proposal; hubbub.core.edit)
    "draft/message-edit": "",
    # https://ircv3.net/specs/extensions/message-redaction (draft; hubbub.core.redact)
    "draft/message-redaction": "",
    # https://ircv3.net/specs/extensions/read-marker (draft; hubbub.core.readmarker)
    "draft/read-marker": "",
    # https://ircv3.net/specs/extensions/metadata (draft; hubbub.core.metadata); value from config
    "draft/metadata-2": "",
    # https://ircv3.net/specs/extensions/multiline (draft; hubbub.core.multiline); value from config
    "draft/multiline": "",
    # https://ircv3.net/specs/extensions/echo-message
    "echo-message": "",
    # https://ircv3.net/specs/extensions/extended-join
    "extended-join": "",
    # https://ircv3.net/specs/extensions/invite-notify
    "invite-notify": "",
    # https://ircv3.net/specs/extensions/labeled-response
    "labeled-response": "",
    # https://ircv3.net/specs/extensions/message-tags
    "message-tags": "",
    # https://ircv3.net/specs/extensions/multi-prefix
    "multi-prefix": "",
    # https://ircv3.net/specs/extensions/sasl-3.2 (mechanisms: hubbub.core.sasl)
    "sasl": "PLAIN,SCRAM-SHA-256,EXTERNAL",
    # https://ircv3.net/specs/extensions/server-time
    "server-time": "",
    # https://ircv3.net/specs/extensions/setname
    "setname": "",
    # https://ircv3.net/specs/extensions/userhost-in-names
    "userhost-in-names": "",
}


def advertised_value(config: Config, name: str) -> str:
    """The value CAP LS 302 gives `name`: the limits of the configuration where the capability
    advertises them, else the fixed value above."""
    if name == "draft/metadata-2":
        return metadata_value(config.limits)
    if name == "draft/multiline":
        limits = config.limits
        return f"max-bytes={limits.multiline_max_bytes},max-lines={limits.multiline_max_lines}"
    return CAPABILITIES[name]


# Capabilities a client cannot turn off once on (cap-notify is implied by CAP LS 302).
STICKY = frozenset({"cap-notify"})
