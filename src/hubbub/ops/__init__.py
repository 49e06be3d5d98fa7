"""Operator tools run as separate processes: backups (`backup`), the data directory's lock
(`datalock`) and `hubbub doctor` (`doctor`)."""
