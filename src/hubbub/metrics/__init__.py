"""Operations: Prometheus metrics, health checks and the listener that serves them.

`collector` turns the server's plain counters (the core's `Counters`, the listeners', the
history worker's) into Prometheus samples when scraped; `http` is the small HTTP listener on
its own port (`[metrics]`) serving `/metrics`, `/healthz` and `/readyz`, and measures the event
loop's lag. The core never imports any of this.
"""
