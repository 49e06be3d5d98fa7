"""The engines that run the sans-IO core: how sockets and threads are arranged around it."""
