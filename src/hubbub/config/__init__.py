"""Server configuration: the schema (frozen, validated dataclasses) and its one error type.

Importing this package reads no file and pulls in no TOML parser, so the sans-IO core may use
`Config`. Reading a file is `hubbub.config.loader.load_config`; writing one back out as
commented TOML is `hubbub.config.text`.
"""

from hubbub.config.errors import ConfigError
from hubbub.config.schema import (
    OPERATOR_KEYS,
    AccountsSection,
    ClusterSection,
    Config,
    FloodSection,
    HistorySection,
    LimitsSection,
    ListenSection,
    LogSection,
    MetricsSection,
    Operator,
    Rule,
    ServerSection,
    TimeoutsSection,
    TlsSection,
    WebSection,
    default_data_dir,
    rule_of,
)

__all__ = [
    "OPERATOR_KEYS",
    "AccountsSection",
    "ClusterSection",
    "Config",
    "ConfigError",
    "FloodSection",
    "HistorySection",
    "LimitsSection",
    "ListenSection",
    "LogSection",
    "MetricsSection",
    "Operator",
    "Rule",
    "ServerSection",
    "TimeoutsSection",
    "TlsSection",
    "WebSection",
    "default_data_dir",
    "rule_of",
]
