"""The IRCv3 capabilities hubbub offers, defined once.

Each entry links to its specification. A value (for CAP LS 302) is given where the spec has one.
"""

from __future__ import annotations

from hubbub.config import AccountsSection, Config, LimitsSection


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
    # https://ircv3.net/specs/extensions/account-registration (draft); the value advertised
    # follows the configuration (account_registration_value)
    "draft/account-registration": "before-connect,custom-account-name",
    # https://ircv3.net/specs/extensions/channel-rename (draft; hubbub.core.rename)
    "draft/channel-rename": "",
    # https://ircv3.net/specs/extensions/chathistory (work in progress: draft/ prefix)
    "draft/chathistory": "",
    # https://ircv3.net/specs/extensions/chathistory#event-playback
    "draft/event-playback": "",
    # https://github.com/ircv3/ircv3-specifications/pull/425 (open proposal; hubbub.core.edit)
    "draft/message-edit": "",
    # https://ircv3.net/specs/extensions/message-redaction (draft; hubbub.core.redact)
    "draft/message-redaction": "",
    # https://ircv3.net/specs/extensions/pre-away (draft; hubbub.core.preaway)
    "draft/pre-away": "",
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
    # https://ircv3.net/specs/extensions/extended-monitor (hubbub.core.monitor)
    "extended-monitor": "",
    # https://ircv3.net/specs/extensions/invite-notify
    "invite-notify": "",
    # https://ircv3.net/specs/extensions/labeled-response
    "labeled-response": "",
    # https://ircv3.net/specs/extensions/message-tags
    "message-tags": "",
    # https://ircv3.net/specs/extensions/multi-prefix
    "multi-prefix": "",
    # https://ircv3.net/specs/extensions/no-implicit-names (hubbub.core.channels.join)
    "no-implicit-names": "",
    # https://ircv3.net/specs/extensions/sasl-3.2 (mechanisms: hubbub.core.sasl)
    "sasl": "PLAIN,SCRAM-SHA-256,EXTERNAL",
    # https://ircv3.net/specs/extensions/server-time
    "server-time": "",
    # https://ircv3.net/specs/extensions/setname
    "setname": "",
    # https://ircv3.net/specs/extensions/userhost-in-names
    "userhost-in-names": "",
}


# Capabilities a client cannot turn off once on (cap-notify is implied by CAP LS 302).
STICKY = frozenset({"cap-notify"})


def account_registration_value(config: AccountsSection) -> str:
    """draft/account-registration's value as configured: `before-connect` only when REGISTER is
    allowed before connection registration completes, `email-required` when it needs an
    address; the account name may always differ from the nick (`custom-account-name`)."""
    keys = ["before-connect"] if config.register_before_connect else []
    if config.email_required:
        keys.append("email-required")
    keys.append("custom-account-name")
    return ",".join(keys)


def cap_value(name: str, config: Config) -> str:
    """The value CAP LS 302 advertises for `name`: what the configuration allows or limits where
    the capability says so, else the fixed value above."""
    if name == "draft/account-registration":
        return account_registration_value(config.accounts)
    if name == "draft/metadata-2":
        return metadata_value(config.limits)
    if name == "draft/multiline":
        limits = config.limits
        return f"max-bytes={limits.multiline_max_bytes},max-lines={limits.multiline_max_lines}"
    return CAPABILITIES[name]
