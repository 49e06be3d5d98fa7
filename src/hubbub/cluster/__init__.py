"""hubbub's cluster: several server nodes forming one network through Redis (issue 14).

`hubbub.cluster.bus` is the Redis bus: it sequences opaque per-room events, keeps per-room state
fields, holds leased claims (nicks) and watches the nodes' leases. It knows nothing about IRC;
the node adapter turns IRC events into its payloads and back. Nothing in `hubbub.core` imports
this package's I/O modules (scripts/lint checks it).
"""
