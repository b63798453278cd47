"""Server defaults the `pln serve` arguments show, apart from the servers themselves so that
building the CLI's parser imports neither."""

DEFAULT_PORT = 8080
THREADS = 8  # waitress threads running the app; I/O of idle connections needs none
BACKLOG = 1024  # connections the kernel queues before accept (capped by net.core.somaxconn)
WORKERS = 2  # granian processes; one per core of a small server
